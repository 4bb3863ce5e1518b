"""The one "refused, with a reason" exception that domain code raises.

Rooms, calls and handlers refuse requests with a `code` (the `error` frame's
code) and a message for people. The frame router answers any `Refused` with an
`error` frame and the REST error middleware with the status its code maps to,
so neither handlers nor views translate each domain's own exception. The
subclasses below fix the common codes.
"""

from __future__ import annotations

from typing import Any, ClassVar


class Refused(Exception):
    """A request was refused; `code` goes on the wire, `message` to the person."""

    def __init__(self, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.extra = extra


class _Coded(Refused):
    """A refusal whose code is fixed by its class: raise `NotFound("no such message")`."""

    CODE: ClassVar[str]

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(self.CODE, message, **extra)


class NotFound(_Coded):
    """No such thing, or one the actor may not learn exists (same answer for both)."""

    CODE = "not_found"


class Forbidden(_Coded):
    """It exists and the actor knows it, but may not do this to it."""

    CODE = "forbidden"


class Invalid(_Coded):
    """The request breaks a rule; `fields={"name": ["why"]}` says which part did."""

    CODE = "invalid"


class LimitReached(_Coded):
    """A per-object limit is full (e.g. distinct emoji on a message)."""

    CODE = "limit_reached"
