"""The exceptions domain code and adapters raise for the edges to answer once.

Rooms, calls and handlers refuse requests with a `code` (the `error` frame's
code) and a message for people. The frame router answers any `Refused` with an
`error` frame and the REST error middleware with the status its code maps to,
so neither handlers nor views translate each domain's own exception. The
subclasses below fix the common codes.

Backend outages have two port-level exceptions of their own: every adapter
(store, broker, file store) turns its driver's connection and timeout errors
into `Unavailable` and a full disk into `StorageFull`, so the REST error
middleware, the frame router and the WebSocket handshake each map them in one
place (503 / 507, `error` frames `unavailable` / `storage_full`) instead of
leaking a driver's exception as an internal error.
"""

from __future__ import annotations

from typing import Any, ClassVar, Final

#: What clients are told to wait before retrying after an outage. Redis
#: reconnects within a few seconds (its back-off caps at 5 s) and a MongoDB
#: replica set elects a new primary in about as long; asking sooner only adds
#: load to a backend that is coming back.
RETRY_AFTER_SECONDS: Final = 5


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


class Unavailable(Exception):
    """A backend (`store`, `broker`, `files`) cannot be reached right now; retry later.

    `str(exc)` is the operator's reason (e.g. "redis at localhost:6379: connection
    refused"); clients only learn which backend and when to retry.
    """

    def __init__(self, backend: str, reason: str) -> None:
        super().__init__(reason)
        self.backend = backend
        self.retry_after = RETRY_AFTER_SECONDS


class StorageFull(Exception):
    """A backend refused a write because its disk (or quota) is full; nothing was kept."""

    def __init__(self, backend: str, reason: str) -> None:
        super().__init__(reason)
        self.backend = backend
