"""The one "refused, with a reason" exception that domain code raises.

Rooms, calls and handlers refuse requests with a `code` (the `error` frame's
code) and a message for people. The frame router answers any `Refused` with an
`error` frame, so handlers need not translate each domain's own exception.
"""

from __future__ import annotations

from typing import Any


class Refused(Exception):
    """A request was refused; `code` goes on the wire, `message` to the person."""

    def __init__(self, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.extra = extra
