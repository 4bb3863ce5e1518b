"""edit / delete: change or remove a stored message, live for every member.

Each is a room event with its own seq (the message keeps the seq it was created
with), so `resume` replays it. Only the author edits; the author deletes, and
so may a room's owner or moderators (not in DMs, which have neither).
"""

from __future__ import annotations

import logging
from typing import Any

from chatd import frames
from chatd.files import FileStore
from chatd.handlers.base import (
    FrameContext,
    FrameError,
    FrameSchema,
    Handler,
    RateLimit,
    room_field,
)
from chatd.handlers.messages import message_id_field, text_field
from chatd.mentions import resolve_mentions
from chatd.store import Message, RoomKind

logger = logging.getLogger(__name__)

#: Roles that may delete anyone's message in their room.
MODERATING_ROLES = frozenset({"owner", "moderator"})
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
        store = self.services.store
        message = await store.get_message(frame["room"], frame["id"])
        if message is None:
            raise FrameError("not_found", "no such message in this room")
        if message.user_id != ctx.user.id:
            raise FrameError("forbidden", "you can only edit your own messages")
        mentions, mentions_room = await resolve_mentions(store, frame["room"], frame["text"])
        result = await store.edit_message(
            frame["room"],
            frame["id"],
            frame["text"],
            mentions=mentions,
            mentions_room=mentions_room,
        )
        if result is None:  # deleted in the meantime
            raise FrameError("not_found", "no such message in this room")
        edited, seq = result
        ctx.ack(edited.id, seq)
        await self.services.hub.publish_event(
            edited.room_id, seq, frames.message_update(edited, seq)
        )


class DeleteHandler(Handler):
    frame_type = "delete"
    schema = DeleteSchema
    requires_membership = True
    rate_limit = EDIT_RATE

    async def handle(self, ctx: FrameContext, frame: dict[str, Any]) -> None:
        store = self.services.store
        message = await store.get_message(frame["room"], frame["id"])
        if message is None:
            raise FrameError("not_found", "no such message in this room")
        if message.user_id != ctx.user.id and not await self._moderates(ctx, frame["room"]):
            raise FrameError(
                "forbidden",
                "you can only delete your own messages (room owners and moderators: any)",
            )
        result = await store.delete_message(frame["room"], frame["id"])
        if result is None:  # deleted in the meantime
            raise FrameError("not_found", "no such message in this room")
        deleted, seq = result
        # Before the ack: once acked, the content is gone, files included.
        await delete_files(self.services.files, deleted)
        ctx.ack(deleted.id, seq)
        await self.services.hub.publish_event(
            deleted.room_id, seq, frames.message_delete(deleted.room_id, deleted.id, seq)
        )

    async def _moderates(self, ctx: FrameContext, room_id: str) -> bool:
        store = self.services.store
        room = await store.get_room(room_id)
        if room is None or room.kind is RoomKind.DM:
            return False
        return await store.member_role(room_id, ctx.user.id) in MODERATING_ROLES


async def delete_files(files: FileStore, message: Message) -> None:
    """Remove a deleted message's stored objects (files and thumbnails).

    The message is already gone; an object that cannot be removed now is
    logged with its key for an operator, not retried.
    """
    for attachment in message.attachments:
        for key in (attachment.key, attachment.thumbnail_key):
            if key is None:
                continue
            try:
                await files.delete(key)
            except Exception:
                logger.exception("could not delete %s of deleted message %s", key, message.id)
