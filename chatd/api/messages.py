"""Messages as REST returns them: the `message` frame plus what one viewer sees."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from marshmallow import Schema, fields

from chatd.models import Message
from chatd.store import Store
from chatd.wire import frames


class MessageListSchema(Schema):
    messages = fields.List(fields.Dict())


async def messages_json(
    store: Store, messages: Sequence[Message], viewer_id: str
) -> list[dict[str, Any]]:
    """Each message as a `message` frame with `reactions` ([{emoji, count, me}])."""
    reactions = await store.reactions([m.id for m in messages], viewer_id)
    return [frames.message(m, reactions=reactions.get(m.id, [])) for m in messages]
