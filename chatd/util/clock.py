"""Time and identifier helpers shared by every adapter, so they agree on formats."""

from __future__ import annotations

import secrets
import time


def now_ms() -> int:
    """Wall-clock time as epoch milliseconds, the unit of every `ts` on the wire."""
    return time.time_ns() // 1_000_000


def new_id() -> str:
    """A random, URL-safe identifier for users, rooms, messages and files.

    Time-prefixed (ms, hex) so ids created later sort later, which keeps indexes
    append-mostly on both stores; 10 random bytes make collisions irrelevant.
    """
    return f"{now_ms():012x}{secrets.token_hex(10)}"
