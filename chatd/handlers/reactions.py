"""react / unreact: a user's emoji on a message, idempotent, live for every member.

A change is a room event with its own seq (replayed by `resume`); repeating
one changes nothing, takes no seq and is acked with the existing state.
"""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields

from chatd import frames
from chatd.emoji import is_reaction
from chatd.handlers.base import (
    FrameContext,
    FrameError,
    FrameSchema,
    Handler,
    RateLimit,
    room_field,
)
from chatd.handlers.messages import message_id_field
from chatd.store import ReactionChange, ReactionOp

#: Distinct emoji on one message; beyond this a message is a sticker wall.
MAX_EMOJI_PER_MESSAGE = 50


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
    op: ReactionOp

    async def handle(self, ctx: FrameContext, frame: dict[str, Any]) -> None:
        room_id, message_id, emoji = frame["room"], frame["id"], frame["emoji"]
        change = await self._change(ctx, room_id, message_id, emoji)
        if change is None:
            raise FrameError("not_found", "no such message in this room")
        ctx.ack(message_id, change.seq)
        if change.changed:
            await self.services.hub.publish_event(
                room_id,
                change.seq,
                frames.reaction(
                    room_id,
                    message_id,
                    change.seq,
                    emoji=emoji,
                    user_id=ctx.user.id,
                    username=ctx.user.username,
                    op=self.op,
                ),
            )

    async def _change(
        self, ctx: FrameContext, room_id: str, message_id: str, emoji: str
    ) -> ReactionChange | None:
        raise NotImplementedError


class ReactHandler(_ReactionHandler):
    frame_type = "react"
    op = ReactionOp.ADD

    async def _change(
        self, ctx: FrameContext, room_id: str, message_id: str, emoji: str
    ) -> ReactionChange | None:
        store = self.services.store
        present = (await store.reactions([message_id], ctx.user.id)).get(message_id, [])
        if len(present) >= MAX_EMOJI_PER_MESSAGE and emoji not in {r.emoji for r in present}:
            raise FrameError(
                "limit_reached", f"a message takes at most {MAX_EMOJI_PER_MESSAGE} different emoji"
            )
        return await store.add_reaction(room_id, message_id, ctx.user.id, ctx.user.username, emoji)


class UnreactHandler(_ReactionHandler):
    frame_type = "unreact"
    op = ReactionOp.REMOVE

    async def _change(
        self, ctx: FrameContext, room_id: str, message_id: str, emoji: str
    ) -> ReactionChange | None:
        return await self.services.store.remove_reaction(
            room_id, message_id, ctx.user.id, ctx.user.username, emoji
        )
