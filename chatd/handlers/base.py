"""The plugin surface: a frame handler class and what it is handed.

A handler declares its frame `type`, a strict marshmallow schema for the rest
of the frame, whether the sender must be a member of the frame's `room`, and
an optional rate limit. The router validates, authorizes and rate-limits
before `handle` runs, so handlers contain only their behaviour.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any, ClassVar

from marshmallow import RAISE, Schema, fields, validate

from chatd.errors import Refused
from chatd.fanout.connection import Connection
from chatd.models import User
from chatd.realtime.services import Services
from chatd.wire import frames

#: Room ids are short and URL-safe; anything else is refused before lookup.
ROOM_ID_PATTERN = r"^[A-Za-z0-9_\-]{1,64}$"


class FrameSchema(Schema):
    """Base for frame payload schemas: unknown fields are refused."""

    class Meta:
        unknown = RAISE


def room_field() -> fields.String:
    return fields.String(
        required=True, validate=validate.Regexp(ROOM_ID_PATTERN, error="Not a room id.")
    )


class RoomFrameSchema(FrameSchema):
    room = room_field()


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most `burst` frames at once, refilled at `per_second` (a token bucket per user)."""

    burst: int
    per_second: float


class FrameError(Refused):
    """Raised by a handler to answer its frame with an `error` (and nothing else).

    Any other `chatd.errors.Refused` (a room or call rule) is answered the same way.
    """


@dataclass(slots=True)
class FrameContext:
    """What a handler gets for one frame: the sender's connection, its ref, the services."""

    conn: Connection
    services: Services
    ref: str | None

    @property
    def user(self) -> User:
        return self.conn.user

    def reply(self, frame: dict[str, Any]) -> None:
        """Send a frame to the sender, echoing the frame's `ref` when it had one."""
        if self.ref is not None and "ref" not in frame:
            frame["ref"] = self.ref
        self.conn.send(frame)

    def ack(self, message_id: str, seq: int) -> None:
        self.conn.send(frames.ack(self.ref, message_id, seq))


class Handler(abc.ABC):
    """Subclass, set the class attributes, implement `handle`, register an entry point."""

    frame_type: ClassVar[str]
    schema: ClassVar[type[Schema]] = FrameSchema
    #: The frame has a `room` and the sender must be a member of it.
    requires_membership: ClassVar[bool] = False
    rate_limit: ClassVar[RateLimit | None] = None

    def __init__(self, services: Services) -> None:
        self.services = services

    def current_rate_limit(self) -> RateLimit | None:
        """The limit in force; override to read it from settings."""
        return self.rate_limit

    @abc.abstractmethod
    async def handle(self, ctx: FrameContext, frame: dict[str, Any]) -> None:
        """Act on a validated, authorized frame; raise FrameError to refuse it."""
