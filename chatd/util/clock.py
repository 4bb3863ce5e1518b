"""Time and identifier helpers shared by every adapter, so they agree on formats."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable
from typing import Protocol


def now_ms() -> int:
    """Wall-clock time as epoch milliseconds, the unit of every `ts` on the wire."""
    return time.time_ns() // 1_000_000


def new_id() -> str:
    """A random, URL-safe identifier for users, rooms, messages and files.

    Time-prefixed (ms, hex) so ids created later sort later, which keeps indexes
    append-mostly on both stores; 10 random bytes make collisions irrelevant.
    """
    return f"{now_ms():012x}{secrets.token_hex(10)}"


class Timer(Protocol):
    """A callback due later (Clock.call_later); cancel() before it runs drops it."""

    def cancel(self) -> None: ...


class Clock(Protocol):
    """Time, passed in rather than taken from asyncio and the time module.

    Whatever waits on a timing (presence throttling, a room's gap wait, token
    expiry) takes a Clock, so its tests advance a clock of their own instead of
    sleeping real seconds (in the manner of Synapse's Clock).
    """

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (only differences mean anything)."""
        ...

    def time(self) -> float:
        """Wall-clock time as epoch seconds (what a token's `exp` is compared with)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Return after `seconds` on this clock."""
        ...

    def call_later(self, delay: float, callback: Callable[[], object]) -> Timer:
        """Run `callback` once, `delay` seconds on this clock from now."""
        ...


class LoopClock:
    """The running event loop's clock and the system's wall clock: what every node uses."""

    def monotonic(self) -> float:
        return asyncio.get_running_loop().time()

    def time(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    def call_later(self, delay: float, callback: Callable[[], object]) -> Timer:
        return asyncio.get_running_loop().call_later(delay, callback)
