"""Room rules: ids, the DM namespace, names and topics (pure; no store, no hub).

The room actions (`chatd.actions.rooms`, `chatd.actions.dms`) apply them; REST
schemas only borrow the limits to bound a request's size.
"""

from __future__ import annotations

import re
from typing import Final

from chatd.errors import Invalid
from chatd.models import Room, RoomKind
from chatd.util.clock import new_id, now_ms
from chatd.util.text import one_line

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


def public_room_id(name: str) -> str | None:
    """`My Room` -> `my-room`; None if the name cannot be a public room id."""
    candidate = _SEPARATORS.sub("-", name.strip().lower())
    return candidate if _ALLOWED.match(candidate) else None


def is_dm_id(room_id: str) -> bool:
    """Whether the id is in the DM namespace (reserved for chatd/dms.py)."""
    return room_id.startswith(DM_ID_PREFIX)


def takes_new_members(room: Room) -> bool:
    """Whether anyone may join the room uninvited.

    Only public rooms. A public room with a DM id predates the reservation (a
    squatted DM id, see README "Upgrading"): it takes no new members.
    """
    return room.kind is RoomKind.PUBLIC and not is_dm_id(room.id)


def new_room(*, creator_id: str, name: str, private: bool, topic: str, voice: bool) -> Room:
    """The room a create request describes, not stored yet.

    Invalid, naming the field at fault, if the name or topic breaks a rule.
    """
    # Names and topics are shown to everyone: cleaned like file names, so
    # neither can hide characters or reorder what people read.
    name, topic = one_line(name), one_line(topic)
    if not name:
        raise _invalid(
            "name", "a room name needs visible characters (control and invisible ones are removed)"
        )
    if len(name) > MAX_ROOM_NAME:
        raise _invalid("name", f"at most {MAX_ROOM_NAME} characters")
    if len(topic) > MAX_TOPIC:
        raise _invalid("topic", f"at most {MAX_TOPIC} characters")
    if private:
        return Room(new_id(), name, RoomKind.PRIVATE, creator_id, now_ms(), topic, voice)
    room_id = public_room_id(name)
    if room_id is None:
        raise _invalid("name", "a public room name needs letters or digits (up to 64, '-' allowed)")
    if is_dm_id(room_id):
        raise _invalid(
            "name", f"names starting with '{DM_ID_PREFIX}' are reserved for direct messages"
        )
    return Room(room_id, name, RoomKind.PUBLIC, creator_id, now_ms(), topic, voice)


def created_by_joining(room_id: str, user_id: str) -> Room | None:
    """The public room a join of a missing `room_id` creates (seed behaviour), if any.

    Only an id that is already a public room's normalized name; never a DM id
    (a missing DM is opened through POST /api/dms, never made by a join).
    """
    if public_room_id(room_id) != room_id or is_dm_id(room_id):
        return None
    return Room(room_id, room_id, RoomKind.PUBLIC, user_id, now_ms())


def _invalid(field: str, message: str) -> Invalid:
    return Invalid(message, fields={field: [message]})
