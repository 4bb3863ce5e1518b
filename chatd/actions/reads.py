"""Marking a room read: the reader's position, synced to their other sockets.

The position only moves forward. The reader's other tabs and devices (any
node) get `read`, every socket of theirs gets the new `unread` counts, and in
a DM the other members get `read` too (read receipts).
"""

from __future__ import annotations

from collections.abc import Callable

from chatd.actions.deps import ActionDeps, Membership, ensure_member
from chatd.domain.readstate import push_unread
from chatd.fanout.user_events import UserFrame
from chatd.models import RoomKind, User
from chatd.wire import frames
from chatd.wire.frames import Frame


async def mark_read(
    deps: ActionDeps,
    reader: User,
    room_id: str,
    seq: int,
    *,
    membership: Membership,
    origin: str | None = None,
    acknowledge: Callable[[Frame], None] | None = None,
) -> int:
    """Move the reader's position up to `seq`; return the stored position.

    `origin` is the connection id of the socket that asked: it gets the `read`
    frame through `acknowledge` (first, even when nothing moved), not again
    through the reader's user channel.
    """
    await ensure_member(deps, reader.id, room_id, membership)
    store, hub = deps.store, deps.hub
    # Nobody has read past the room's last event.
    wanted = min(seq, await store.last_seq(room_id))
    position = await store.mark_read(reader.id, room_id, wanted)
    read = frames.read(room_id, reader.id, reader.username, position)
    if acknowledge is not None:
        acknowledge(dict(read))  # a copy: an adapter may add its own fields (a ref)
    if position != wanted:
        return position  # already read further: nothing moved
    await hub.publish_user(reader.id, UserFrame(read, exclude=origin))
    await push_unread(store, hub, reader.id, room_id)
    room = await store.get_room(room_id)
    if room is not None and room.kind is RoomKind.DM:
        for member_id in await store.member_ids(room_id):
            if member_id != reader.id:
                await hub.publish_user(member_id, UserFrame(read))
    return position
