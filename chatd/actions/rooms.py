"""Rooms: create, join, leave, invite - stored, then live on the user's sockets.

A membership change is announced on the user's channel (every socket of the
user, on every node, starts or stops receiving the room), not on the room's.
DMs are rooms with a fixed set of members (`chatd.actions.dms` opens them):
nobody joins, leaves or is invited to one.
"""

from __future__ import annotations

from typing import Any

from chatd.actions.deps import ActionDeps, Membership, member_room
from chatd.domain import rooms
from chatd.errors import Invalid, NotFound, Refused
from chatd.fanout.hub import Hub
from chatd.fanout.user_events import JoinedRoom, LeftRoom
from chatd.models import Room, RoomKind, User
from chatd.store import Conflict
from chatd.wire import frames


async def create_room(
    deps: ActionDeps,
    creator: User,
    *,
    name: str,
    private: bool,
    topic: str = "",
    voice: bool = False,
) -> Room:
    """A new room with the creator as its owner (`rooms.new_room` has the rules).

    A public room is named by its normalized name: `room_exists` if it is taken.
    """
    room = rooms.new_room(
        creator_id=creator.id, name=name, private=private, topic=topic, voice=voice
    )
    try:
        room = await deps.store.create_room(room)
    except Conflict:
        raise Refused("room_exists", "a room with that name exists") from None
    await deps.store.add_member(room.id, creator.id, role="owner")
    await announce_join(deps.hub, creator.id, room)
    return room


async def join_room(deps: ActionDeps, user: User, room_id: str) -> Room:
    """Join a public room; one that does not exist yet is created (seed behaviour).

    A private room, a DM or a missing room that cannot be created is NotFound,
    the same answer for each (private rooms are not revealed).
    """
    store = deps.store
    room = await store.get_room(room_id)
    if room is None:
        new = rooms.created_by_joining(room_id, user.id)
        if new is None:
            raise _no_such_room()
        room = await store.ensure_room(new)
        if room.created_by == user.id and await store.add_member(room.id, user.id, role="owner"):
            await announce_join(deps.hub, user.id, room)
            return room
    if await store.is_member(room.id, user.id):
        # Joining again (a reconnecting client) is a read, not a write: every
        # socket of a member already receives the room (since hello or the
        # first join's announcement), so there is nothing to announce.
        return room
    if not rooms.takes_new_members(room):
        raise _no_such_room()
    if await store.add_member(room.id, user.id):
        await announce_join(deps.hub, user.id, room)
    return room


async def leave_room(deps: ActionDeps, user: User, room_id: str, *, membership: Membership) -> None:
    """Stop being a member; every socket of the user gets `left`. Not from a DM."""
    room = await member_room(deps, user.id, room_id, membership)
    _refuse_dm(room)
    await deps.store.remove_member(room.id, user.id)
    await deps.hub.publish_user(user.id, LeftRoom(room.id))


async def invite(
    deps: ActionDeps, inviter: User, room_id: str, username: str, *, membership: Membership
) -> User:
    """Add the user named `username` (any member may invite, private rooms too).

    Returns the invitee; inviting a member again changes nothing. Not to a DM.
    """
    room = await member_room(deps, inviter.id, room_id, membership)
    _refuse_dm(room)
    invitee = await deps.store.get_user_by_name(username)
    if invitee is None:
        raise NotFound("no such user")
    if await deps.store.add_member(room.id, invitee.id):
        await announce_join(deps.hub, invitee.id, room)
    return invitee


async def announce_join(
    hub: Hub, user_id: str, room: Room, *, info: dict[str, Any] | None = None
) -> None:
    """Every socket of the user, on every node, starts receiving the room.

    `info` is what their `joined` frame shows (default: the plain room).
    """
    await hub.publish_user(user_id, JoinedRoom(room.id, info or frames.room_json(room)))


def _refuse_dm(room: Room) -> None:
    if room.kind is RoomKind.DM:
        raise Invalid("direct messages have a fixed set of members")


def _no_such_room() -> NotFound:
    return NotFound("no such room")
