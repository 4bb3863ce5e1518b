"""read: a thin adapter over `chatd.actions.reads.mark_read`."""

from __future__ import annotations

from typing import Any

from chatd.actions.deps import Membership
from chatd.actions.reads import mark_read
from chatd.handlers.base import FrameContext, FrameSchema, Handler, RateLimit, room_field
from chatd.wire.numbers import stored_int


class ReadFrameSchema(FrameSchema):
    room = room_field()
    seq = stored_int(required=True, strict=True)


class ReadHandler(Handler):
    frame_type = "read"
    schema = ReadFrameSchema
    requires_membership = True
    # Clients send one as the user scrolls; a burst covers a fast scroll.
    rate_limit = RateLimit(burst=20, per_second=5)

    async def handle(self, ctx: FrameContext, frame: dict[str, Any]) -> None:
        await mark_read(
            self.services.actions,
            ctx.user,
            frame["room"],
            frame["seq"],
            membership=Membership.VERIFIED,  # the router checked it
            origin=ctx.conn.id,
            acknowledge=ctx.reply,
        )
