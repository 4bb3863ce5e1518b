"""read: a member's read position in a room, synced to their other sockets.

The position only moves forward. The reader's other tabs and devices (any
node) get `read`, every socket of theirs gets the new `unread` counts, and in
a DM the other members get `read` too (read receipts).
"""

from __future__ import annotations

from typing import Any

from chatd import frames
from chatd.handlers.base import FrameContext, FrameSchema, Handler, RateLimit, room_field
from chatd.numbers import stored_int
from chatd.readstate import push_unread
from chatd.store import RoomKind


class ReadFrameSchema(FrameSchema):
    room = room_field()
    seq = stored_int(required=True, strict=True)


class ReadHandler(Handler):
    frame_type = "read"
    schema = ReadFrameSchema
    requires_membership = True
    # Clients send one as the user scrolls; a burst covers a fast scroll.
    rate_limit = RateLimit(burst=20, per_second=5)

    async def handle(self, ctx: FrameContext, frame: dict[str, Any]) -> None:
        store, hub, user = self.services.store, self.services.hub, ctx.user
        room_id = frame["room"]
        # Nobody has read past the room's last event.
        wanted = min(frame["seq"], await store.last_seq(room_id))
        position = await store.mark_read(user.id, room_id, wanted)
        read = frames.read(room_id, user.id, user.username, position)
        ctx.reply(dict(read))
        if position != wanted:
            return  # already read further: nothing moved
        await hub.publish_user(user.id, {"kind": "frame", "frame": read, "exclude": ctx.conn.id})
        await push_unread(store, hub, user.id, room_id)
        room = await store.get_room(room_id)
        if room is not None and room.kind is RoomKind.DM:
            for member_id in await store.member_ids(room_id):
                if member_id != user.id:
                    await hub.publish_user(member_id, {"kind": "frame", "frame": read})
