"""The text a benchmark message carries: who sent it, in which phase, and when.

Format: ``b1|<phase>|<conn>|<n>|<send_ns>|<lag_us>|<padding>``. Plain ASCII with
no characters JSON would escape, so both servers forward it unchanged and
receivers split it without a second JSON parse.

``send_ns`` is when the frame was actually written (``time.time_ns()``, one clock
for every process on this machine); ``lag_us`` is how late that was against the
open-loop timetable. Receivers record both latency from the actual send (what the
server and network cost) and from the timetable (``send_ns - lag``), which keeps
the coordinated-omission-safe view: a generator that fell behind cannot hide the
delay. The two differ by the event loop's timer granularity (~1 ms) when the
generator keeps up, and by much more when it does not.
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
    lag_us: int


def encode(phase: str, conn: int, n: int, send_ns: int, lag_us: int, size: int) -> str:
    """A payload of at least `size` characters (padding makes message size a knob)."""
    head = f"{MAGIC}{phase}|{conn}|{n}|{send_ns}|{lag_us}|"
    pad = size - len(head)
    return head + "x" * pad if pad > 0 else head


def decode(text: str) -> Stamp | None:
    """The stamp in a payload, or None for a message the bench did not send."""
    if not text.startswith(MAGIC):
        return None
    parts = text.split("|", 6)
    if len(parts) < 6:
        return None
    try:
        return Stamp(parts[1], int(parts[2]), int(parts[3]), int(parts[4]), int(parts[5]))
    except ValueError:
        return None
