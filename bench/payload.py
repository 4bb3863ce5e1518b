"""The text a benchmark message carries: who sent it, in which phase, and when.

Format: ``b1|<phase>|<conn>|<n>|<send_ns>|<padding>``. It is plain ASCII with no
characters JSON would escape, so both servers forward it unchanged and receivers
can split it without a second JSON parse. ``send_ns`` is the *intended* send time
from the open-loop timetable (``time.time_ns()`` clock, shared by every process on
this machine), so a generator that falls behind still charges the delay to the
measured latency instead of hiding it (no coordinated omission).
"""

from __future__ import annotations

from typing import NamedTuple

MAGIC = "b1|"
WARM_PHASE = "w"


class Stamp(NamedTuple):
    phase: str
    conn: int
    n: int
    send_ns: int


def encode(phase: str, conn: int, n: int, send_ns: int, size: int) -> str:
    """A payload of at least `size` characters (padding makes message size a knob)."""
    head = f"{MAGIC}{phase}|{conn}|{n}|{send_ns}|"
    pad = size - len(head)
    return head + "x" * pad if pad > 0 else head


def decode(text: str) -> Stamp | None:
    """The stamp in a payload, or None for a message the bench did not send."""
    if not text.startswith(MAGIC):
        return None
    parts = text.split("|", 5)
    if len(parts) < 5:
        return None
    try:
        return Stamp(parts[1], int(parts[2]), int(parts[3]), int(parts[4]))
    except ValueError:
        return None
