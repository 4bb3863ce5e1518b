"""join / leave: membership changes, live on every socket of the user."""

from __future__ import annotations

from typing import Any

from chatd import frames, rooms
from chatd.handlers.base import FrameContext, FrameError, Handler, RateLimit, RoomFrameSchema
from chatd.readstate import room_infos
from chatd.store import RoomKind


class JoinHandler(Handler):
    """Join a room instantly; a public room that does not exist yet is created."""

    frame_type = "join"
    schema = RoomFrameSchema
    rate_limit = RateLimit(burst=20, per_second=2)

    async def handle(self, ctx: FrameContext, frame: dict[str, Any]) -> None:
        store, hub = self.services.store, self.services.hub
        room = await rooms.join_room(store, hub, ctx.user.id, frame["room"])
        await hub.join_local(ctx.conn, room.id)
        [info] = await room_infos(store, ctx.user.id, [room])
        ctx.reply(frames.joined(info))


class LeaveHandler(Handler):
    frame_type = "leave"
    schema = RoomFrameSchema
    requires_membership = True

    async def handle(self, ctx: FrameContext, frame: dict[str, Any]) -> None:
        room = await self.services.store.get_room(frame["room"])
        if room is not None and room.kind is RoomKind.DM:
            raise FrameError("invalid", "direct messages have a fixed set of members")
        await self.services.hub.leave_local(ctx.conn, frame["room"])
        # Membership goes before the answer: once `left` arrives, history and
        # search no longer show the room to this user.
        await rooms.leave_room(self.services.store, self.services.hub, ctx.user.id, frame["room"])
        ctx.reply(frames.left(frame["room"]))
