"""react / unreact: thin adapters over `chatd.actions.reactions.change_reaction`."""

from __future__ import annotations

from typing import Any, ClassVar

from marshmallow import ValidationError, fields

from chatd.actions.deps import Membership
from chatd.actions.reactions import change_reaction
from chatd.domain.emoji import is_reaction
from chatd.handlers.base import FrameContext, FrameSchema, Handler, RateLimit, room_field
from chatd.handlers.messages import message_id_field
from chatd.models import ReactionOp


def _emoji(value: str) -> None:
    if not is_reaction(value):
        raise ValidationError("Not an emoji or :shortcode: (1-64 characters, no spaces).")


class ReactionFrameSchema(FrameSchema):
    room = room_field()
    id = message_id_field(required=True)
    emoji = fields.String(required=True, validate=_emoji)


class _ReactionHandler(Handler):
    schema = ReactionFrameSchema
    requires_membership = True
    rate_limit = RateLimit(burst=20, per_second=5)
    op: ClassVar[ReactionOp]

    async def handle(self, ctx: FrameContext, frame: dict[str, Any]) -> None:
        await change_reaction(
            self.services.actions,
            ctx.user,
            frame["room"],
            frame["id"],
            frame["emoji"],
            op=self.op,
            membership=Membership.VERIFIED,  # the router checked it
            acknowledge=ctx.ack,
        )


class ReactHandler(_ReactionHandler):
    frame_type = "react"
    op = ReactionOp.ADD


class UnreactHandler(_ReactionHandler):
    frame_type = "unreact"
    op = ReactionOp.REMOVE
