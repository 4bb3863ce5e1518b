"""message: store first, ack the sender, then deliver to every member on every node."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields, validate

from chatd import frames
from chatd.handlers.base import (
    FrameContext,
    FrameError,
    FrameSchema,
    Handler,
    RateLimit,
    room_field,
)
from chatd.mentions import resolve_mentions
from chatd.readstate import notify_mentions
from chatd.store import NewMessage

#: Long enough for a code snippet, short enough to read (Discord allows 2,000).
MAX_MESSAGE_CHARS = 4000
MAX_NONCE_CHARS = 64
#: Message ids are chatd's own (hex); anything else is refused before a look-up.
MESSAGE_ID_PATTERN = r"^[A-Za-z0-9_\-]{1,64}$"


def _not_blank(value: str) -> None:
    if not value.strip():
        raise ValidationError("Message text is empty.")


def text_field() -> fields.String:
    """A message's text: 1-4,000 characters, not only whitespace."""
    return fields.String(
        required=True, validate=[validate.Length(max=MAX_MESSAGE_CHARS), _not_blank]
    )


def message_id_field(**kwargs: Any) -> fields.String:
    return fields.String(
        validate=validate.Regexp(MESSAGE_ID_PATTERN, error="Not a message id."), **kwargs
    )


class MessageSchema(FrameSchema):
    room = room_field()
    text = text_field()
    nonce = fields.String(validate=validate.Length(min=1, max=MAX_NONCE_CHARS))
    thread_id = message_id_field(data_key="threadId")


class MessageHandler(Handler):
    frame_type = "message"
    schema = MessageSchema
    requires_membership = True

    def current_rate_limit(self) -> RateLimit:
        rate = self.services.settings.message_rate
        return RateLimit(burst=max(1, int(rate * 2)), per_second=rate)

    async def handle(self, ctx: FrameContext, frame: dict[str, Any]) -> None:
        store, hub = self.services.store, self.services.hub
        thread_id = frame.get("thread_id")
        if thread_id is not None:
            parent = await store.get_message(frame["room"], thread_id)
            if parent is None:
                raise FrameError("invalid", "threadId names no message in this room")
            if parent.thread_id is not None:
                thread_id = parent.thread_id  # a reply to a reply stays in the thread
        mentions, mentions_room = await resolve_mentions(store, frame["room"], frame["text"])
        message, created = await store.append_message(
            NewMessage(
                room_id=frame["room"],
                user_id=ctx.user.id,
                username=ctx.user.username,
                text=frame["text"],
                nonce=frame.get("nonce"),
                thread_id=thread_id,
                mentions=mentions,
                mentions_room=mentions_room,
            )
        )
        ctx.ack(message.id, message.seq)
        if created:
            await hub.publish_event(message.room_id, message.seq, frames.message(message))
            await notify_mentions(store, hub, message)
