"""join / leave: thin adapters over `chatd.actions.rooms`, live on every socket of the user."""

from __future__ import annotations

from typing import Any

from chatd.actions.deps import Membership
from chatd.actions.rooms import join_room, leave_room
from chatd.domain.readstate import room_infos
from chatd.handlers.base import FrameContext, Handler, RateLimit, RoomFrameSchema
from chatd.wire import frames


class JoinHandler(Handler):
    """Join a room instantly; a public room that does not exist yet is created."""

    frame_type = "join"
    schema = RoomFrameSchema
    rate_limit = RateLimit(burst=20, per_second=2)

    async def handle(self, ctx: FrameContext, frame: dict[str, Any]) -> None:
        room = await join_room(self.services.actions, ctx.user, frame["room"])
        # A member joining again was not announced: this socket may not have the room yet.
        await self.services.hub.join_local(ctx.conn, room.id)
        [info] = await room_infos(self.services.store, ctx.user.id, [room])
        ctx.reply(frames.joined(info))


class LeaveHandler(Handler):
    frame_type = "leave"
    schema = RoomFrameSchema
    requires_membership = True

    async def handle(self, ctx: FrameContext, frame: dict[str, Any]) -> None:
        # Membership goes before the answer: once `left` arrives, history and
        # search no longer show the room to this user (the action's announcement
        # has taken every socket of theirs out of it).
        await leave_room(
            self.services.actions,
            ctx.user,
            frame["room"],
            membership=Membership.VERIFIED,  # the router checked it
        )
        ctx.reply(frames.left(frame["room"]))
