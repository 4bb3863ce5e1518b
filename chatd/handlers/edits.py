"""edit / delete: thin adapters over `chatd.actions.edits`."""

from __future__ import annotations

from typing import Any

from chatd.actions.deps import Membership
from chatd.actions.edits import delete_message, edit_message
from chatd.handlers.base import FrameContext, FrameSchema, Handler, RateLimit, room_field
from chatd.handlers.messages import message_id_field, text_field

#: Edits and deletes are corrections, not conversation: fewer than messages.
EDIT_RATE = RateLimit(burst=10, per_second=2)


class EditSchema(FrameSchema):
    room = room_field()
    id = message_id_field(required=True)
    text = text_field()


class DeleteSchema(FrameSchema):
    room = room_field()
    id = message_id_field(required=True)


class EditHandler(Handler):
    frame_type = "edit"
    schema = EditSchema
    requires_membership = True
    rate_limit = EDIT_RATE

    async def handle(self, ctx: FrameContext, frame: dict[str, Any]) -> None:
        await edit_message(
            self.services.actions,
            ctx.user,
            frame["room"],
            frame["id"],
            membership=Membership.VERIFIED,  # the router checked it
            text=frame["text"],
            acknowledge=ctx.ack,
        )


class DeleteHandler(Handler):
    frame_type = "delete"
    schema = DeleteSchema
    requires_membership = True
    rate_limit = EDIT_RATE

    async def handle(self, ctx: FrameContext, frame: dict[str, Any]) -> None:
        await delete_message(
            self.services.actions,
            ctx.user,
            frame["room"],
            frame["id"],
            membership=Membership.VERIFIED,  # the router checked it
            acknowledge=ctx.ack,
        )
