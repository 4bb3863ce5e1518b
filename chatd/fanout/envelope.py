"""The broker envelope: a one-line JSON header, a newline, then the frame's bytes.

The frame is encoded once and its bytes go to every socket as they are; the
header says what a receiving node needs to route them without decoding the
frame: which node sent it (its own echo is dropped), a stored room event's
`seq` (delivered in seq order), and for an ephemeral frame the one socket not
to send it to (`exclude`, the sender) or the one socket to send it to (`only`).
The keys are one letter each (`n`, `s`, `x`, `o`): a header goes with every
event to every node.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chatd.util.jsonutil import dumpb, loads


@dataclass(frozen=True, slots=True)
class Envelope:
    """What a published frame carries besides the frame."""

    #: The node that published it.
    node: str
    #: A stored room event's seq; None for an ephemeral frame or a user event.
    seq: int | None = None
    #: An ephemeral frame goes to every member socket but this connection.
    exclude: str | None = None
    #: An ephemeral frame goes to this connection only (and only if it is in the room).
    only: str | None = None


def encode(envelope: Envelope, data: bytes) -> bytes:
    header: dict[str, Any] = {}
    if envelope.seq is not None:
        header["s"] = envelope.seq
    if envelope.exclude is not None:
        header["x"] = envelope.exclude
    if envelope.only is not None:
        header["o"] = envelope.only
    header["n"] = envelope.node
    return dumpb(header) + b"\n" + data


def decode(payload: bytes) -> tuple[Envelope, bytes]:
    """The envelope and the frame's bytes; ValueError for a header that is not one."""
    head, _, data = payload.partition(b"\n")
    header = loads(head)
    if not isinstance(header, dict):
        raise ValueError("the header is not an object")
    seq, exclude, only, node = (header.get(key) for key in ("s", "x", "o", "n"))
    return (
        Envelope(
            node=node if isinstance(node, str) else "",
            # Seqs start at 1; anything else is not a stored event's.
            seq=seq if isinstance(seq, int) and not isinstance(seq, bool) and seq > 0 else None,
            exclude=exclude if isinstance(exclude, str) else None,
            only=only if isinstance(only, str) else None,
        ),
        data,
    )
