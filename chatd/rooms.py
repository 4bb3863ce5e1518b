"""Room rules shared by the REST API and the frame handlers."""

from __future__ import annotations

import re
from typing import Any, Final

from chatd import frames
from chatd.clock import new_id, now_ms
from chatd.errors import Refused
from chatd.hub import Hub
from chatd.store import Room, RoomKind, Store
from chatd.text import one_line

#: A public room's id is its normalized name, as in the seed product (`general`).
_SEPARATORS = re.compile(r"[\s_]+")
_ALLOWED = re.compile(r"^[a-z0-9][a-z0-9\-]{0,63}$")
MAX_ROOM_NAME = 64
#: A topic is one line under the name, not a description page.
MAX_TOPIC = 256
#: Direct messages' ids start with this (chatd/dms.py derives them from the
#: members' ids, which any member list shows). No other room may take such an
#: id: a public room squatting it would become the DM its members open later.
DM_ID_PREFIX: Final = "dm-"


class RoomError(Refused):
    """A room operation was refused (REST maps `code` to a status, frames send it).

    `field` names the request field at fault, if one is (REST lists it in `fields`).
    """

    def __init__(self, code: str, message: str, *, field: str | None = None) -> None:
        super().__init__(code, message)
        self.field = field


def public_room_id(name: str) -> str | None:
    """`My Room` -> `my-room`; None if the name cannot be a public room id."""
    candidate = _SEPARATORS.sub("-", name.strip().lower())
    return candidate if _ALLOWED.match(candidate) else None


def is_dm_id(room_id: str) -> bool:
    """Whether the id is in the DM namespace (reserved for chatd/dms.py)."""
    return room_id.startswith(DM_ID_PREFIX)


async def create_room(
    store: Store,
    hub: Hub,
    *,
    creator_id: str,
    name: str,
    private: bool,
    topic: str = "",
    voice: bool = False,
) -> Room:
    # Names and topics are shown to everyone: cleaned like file names, so
    # neither can hide characters or reorder what people read.
    name, topic = one_line(name), one_line(topic)
    if not name:
        raise RoomError(
            "invalid",
            "a room name needs visible characters (control and invisible ones are removed)",
            field="name",
        )
    if len(name) > MAX_ROOM_NAME:
        raise RoomError("invalid", f"at most {MAX_ROOM_NAME} characters", field="name")
    if len(topic) > MAX_TOPIC:
        raise RoomError("invalid", f"at most {MAX_TOPIC} characters", field="topic")
    if private:
        room = Room(new_id(), name, RoomKind.PRIVATE, creator_id, now_ms(), topic, voice)
    else:
        room_id = public_room_id(name)
        if room_id is None:
            raise RoomError(
                "invalid",
                "a public room name needs letters or digits (up to 64, '-' allowed)",
                field="name",
            )
        if is_dm_id(room_id):
            raise RoomError(
                "invalid",
                f"names starting with '{DM_ID_PREFIX}' are reserved for direct messages",
                field="name",
            )
        room = Room(room_id, name, RoomKind.PUBLIC, creator_id, now_ms(), topic, voice)
    room = await store.create_room(room)
    await store.add_member(room.id, creator_id, role="owner")
    await announce_join(hub, creator_id, room)
    return room


async def join_room(store: Store, hub: Hub, user_id: str, room_id: str) -> Room:
    """Join a room; a public room that does not exist yet is created (seed behaviour)."""
    room = await store.get_room(room_id)
    if room is None:
        public_id = public_room_id(room_id)
        if public_id != room_id or is_dm_id(room_id):
            # A missing DM is opened through POST /api/dms, never made by a join.
            raise RoomError("not_found", "no such room")
        room = await store.ensure_room(Room(room_id, room_id, RoomKind.PUBLIC, user_id, now_ms()))
        if room.created_by == user_id and await store.add_member(room.id, user_id, role="owner"):
            await announce_join(hub, user_id, room)
            return room
    if await store.is_member(room.id, user_id):
        # Joining again (a reconnecting client) is a read, not a write: every
        # socket of a member already receives the room (since hello or the
        # first join's announcement), so there is nothing to announce.
        return room
    if room.kind is not RoomKind.PUBLIC or is_dm_id(room.id):
        # Same answer as for a room that does not exist: do not reveal private
        # rooms. A public room with a DM id predates the reservation (a squatted
        # DM id, see README "Upgrading"): it takes no new members.
        raise RoomError("not_found", "no such room")
    if await store.add_member(room.id, user_id):
        await announce_join(hub, user_id, room)
    return room


async def announce_join(
    hub: Hub, user_id: str, room: Room, *, info: dict[str, Any] | None = None
) -> None:
    """Every socket of the user, on every node, starts receiving the room.

    `info` is what their `joined` frame shows (default: the plain room).
    """
    await hub.publish_user(
        user_id,
        {"kind": "join", "room": room.id, "roomInfo": info or frames.room_json(room)},
    )


async def leave_room(store: Store, hub: Hub, user_id: str, room_id: str) -> None:
    await store.remove_member(room_id, user_id)
    await hub.publish_user(user_id, {"kind": "leave", "room": room_id})
