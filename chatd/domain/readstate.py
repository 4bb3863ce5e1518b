"""Read positions, unread counts and mention notices, pushed to users' sockets.

Unread state is per user, so it travels on user channels (every socket of the
user, on every node), never on room channels.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chatd.fanout.hub import Hub
from chatd.fanout.user_events import UserFrame
from chatd.models import Message, Room
from chatd.store import Store
from chatd.wire import frames


async def room_infos(store: Store, user_id: str, rooms: Sequence[Room]) -> list[dict[str, Any]]:
    """Rooms as `ready` and `joined` show them: with lastSeq and the user's read state."""
    unread = await store.unread(user_id, [room.id for room in rooms])
    infos = []
    for room in rooms:
        info = frames.room_json(room)
        info["lastSeq"] = await store.last_seq(room.id)
        state = unread.get(room.id)
        if state is not None:
            info.update(lastRead=state.last_read, unread=state.count, mentions=state.mentions)
        infos.append(info)
    return infos


async def push_unread(store: Store, hub: Hub, user_id: str, room_id: str) -> None:
    """Send the user's current unread counts for the room to all their sockets."""
    state = (await store.unread(user_id, [room_id])).get(room_id)
    if state is not None:
        await hub.publish_user(user_id, UserFrame(frames.unread(room_id, state)))


async def notify_mentions(store: Store, hub: Hub, message: Message) -> None:
    """Tell each member the message names (but its author) on all their sockets.

    `@room` is not notified one by one: every member's sockets already get the
    message, which says `mentionsRoom`; it counts in their mention badge.
    """
    for mention in message.mentions:
        if mention.user_id == message.user_id:
            continue
        await hub.publish_user(mention.user_id, UserFrame(frames.mention(message)))
        await push_unread(store, hub, mention.user_id, message.room_id)
