"""message: a thin adapter over `chatd.actions.messages.post_message`.

Store first, ack the sender, then deliver to every member on every node.
"""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields, validate

from chatd.actions.deps import Membership
from chatd.actions.messages import MAX_MESSAGE_CHARS, MAX_NONCE_CHARS, post_message
from chatd.handlers.base import FrameContext, FrameSchema, Handler, RateLimit, room_field

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
        await post_message(
            self.services.actions,
            ctx.user,
            frame["room"],
            membership=Membership.VERIFIED,  # the router checked it
            text=frame["text"],
            nonce=frame.get("nonce"),
            thread_id=frame.get("thread_id"),
            acknowledge=ctx.ack,
        )
