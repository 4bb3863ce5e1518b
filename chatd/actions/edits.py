"""Editing and deleting a message, live for every member.

Each is a room event with its own seq (the message keeps the seq it was created
with), so `resume` replays it. Only the author edits; the author deletes, and
so may a room's owner or moderators (not in DMs, which have neither).
"""

from __future__ import annotations

import logging

from chatd.actions.deps import Acknowledge, ActionDeps, Membership, ensure_member
from chatd.domain.mentions import resolve_mentions
from chatd.errors import Forbidden, NotFound
from chatd.files import FileStore
from chatd.models import Message, RoomKind, User
from chatd.store import Store
from chatd.wire import frames

logger = logging.getLogger(__name__)

#: Roles that may delete anyone's message in their room.
MODERATING_ROLES = frozenset({"owner", "moderator"})


def _no_such_message() -> NotFound:
    return NotFound("no such message in this room")


async def edit_message(
    deps: ActionDeps,
    editor: User,
    room_id: str,
    message_id: str,
    *,
    membership: Membership,
    text: str,
    acknowledge: Acknowledge | None = None,
) -> tuple[Message, int]:
    """Replace the author's text (mentions re-resolved, not notified again).

    Returns the edited message and the edit event's seq.
    """
    await ensure_member(deps, editor.id, room_id, membership)
    store = deps.store
    message = await store.get_message(room_id, message_id)
    if message is None:
        raise _no_such_message()
    if message.user_id != editor.id:
        raise Forbidden("you can only edit your own messages")
    mentions, mentions_room = await resolve_mentions(store, room_id, text)
    result = await store.edit_message(
        room_id, message_id, text, mentions=mentions, mentions_room=mentions_room
    )
    if result is None:  # deleted in the meantime
        raise _no_such_message()
    edited, seq = result
    if acknowledge is not None:
        acknowledge(edited.id, seq)
    await deps.hub.publish_event(edited.room_id, seq, frames.message_update(edited, seq))
    return edited, seq


async def delete_message(
    deps: ActionDeps,
    deleter: User,
    room_id: str,
    message_id: str,
    *,
    membership: Membership,
    acknowledge: Acknowledge | None = None,
) -> tuple[Message, int]:
    """Remove the message and its files. Returns it as it was and the delete event's seq."""
    await ensure_member(deps, deleter.id, room_id, membership)
    store = deps.store
    message = await store.get_message(room_id, message_id)
    if message is None:
        raise _no_such_message()
    if message.user_id != deleter.id and not await _moderates(store, deleter.id, room_id):
        raise Forbidden("you can only delete your own messages (room owners and moderators: any)")
    result = await store.delete_message(room_id, message_id)
    if result is None:  # deleted in the meantime
        raise _no_such_message()
    deleted, seq = result
    # Before the acknowledgement: once acked, the content is gone, files included.
    await delete_files(deps.files, deleted)
    if acknowledge is not None:
        acknowledge(deleted.id, seq)
    await deps.hub.publish_event(
        deleted.room_id, seq, frames.message_delete(deleted.room_id, deleted.id, seq)
    )
    return deleted, seq


async def _moderates(store: Store, user_id: str, room_id: str) -> bool:
    room = await store.get_room(room_id)
    if room is None or room.kind is RoomKind.DM:
        return False
    return await store.member_role(room_id, user_id) in MODERATING_ROLES


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
