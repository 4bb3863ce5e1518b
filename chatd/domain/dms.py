"""Direct messages: one room per set of 2-10 people, found again by its members.

A DM's id is derived from its members' ids, so opening "the DM with bob" twice,
from any node, lands in the same room without a look-up table. Its members are
fixed: nobody joins, is invited or leaves.

The id is predictable by anyone who can see the members' ids, so it lives in a
namespace no other room can take (`rooms.DM_ID_PREFIX`), and an existing room
under a DM's id is only reused when it is that DM (`chatd.actions.dms.open_dm`,
the one way a DM is made, with `check_is_the_dm`). This module holds the
rules and the read models.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from typing import Any, Final

from chatd.domain import rooms
from chatd.errors import Refused
from chatd.models import Room, RoomKind
from chatd.store import Store
from chatd.wire import frames

logger = logging.getLogger(__name__)

#: Members of a group DM, the caller included (the issue: "group DMs of up to 10").
MAX_DM_MEMBERS: Final = 10
#: What a DM's `users` must be, said to the one who named them.
DM_SIZE_RULE: Final = f"Name 1-{MAX_DM_MEMBERS - 1} users other than yourself."


def dm_room_id(member_ids: Sequence[str]) -> str:
    """`dm-` + a hash of the sorted member ids: the same set, the same room."""
    digest = hashlib.sha256("\n".join(sorted(set(member_ids))).encode()).hexdigest()
    return rooms.DM_ID_PREFIX + digest[:40]


class DmConflict(Refused):
    """The room under a DM's id is not that DM (REST answers 409 `dm_conflict`)."""

    def __init__(self) -> None:
        super().__init__(
            "dm_conflict",
            "another room holds this conversation's id; ask the server's operator to remove it",
        )


async def check_is_the_dm(store: Store, room: Room, member_ids: set[str]) -> None:
    """Refuse to reuse a room that is not the DM of exactly `member_ids`.

    Its members may be fewer than expected (an open cut short before every
    member was added; this open completes it), never anyone else.
    """
    extra = set(await store.member_ids(room.id)) - member_ids
    if room.kind is RoomKind.DM and room.created_by in member_ids and not extra:
        return
    logger.warning(
        "refusing to open DM %s: a %s room named %r (created by %s, %d member(s) outside"
        " the DM) holds its id; see README, Upgrading",
        room.id,
        room.kind,
        room.name,
        room.created_by,
        len(extra),
    )
    raise DmConflict()


async def squatted_dm_ids(store: Store) -> list[Room]:
    """Rooms made before the DM namespace was reserved that hold a DM id.

    Only public rooms can: private rooms' ids are generated hex.
    """
    return [room for room in await store.list_public_rooms() if rooms.is_dm_id(room.id)]


async def dm_json(
    store: Store, room: Room, viewer_id: str | None = None, *, activity: int | None = None
) -> dict[str, Any]:
    """A DM as listed: the room, its members, where each of them has read up to,
    and (given a viewer) the viewer's unread counts."""
    info = frames.room_json(room)
    members = []
    for user_id in await store.member_ids(room.id):
        user = await store.get_user(user_id)
        if user is not None:
            members.append(frames.user_ref(user.id, user.username))
    info["members"] = sorted(members, key=lambda m: m["username"].casefold())
    info["lastActivity"] = activity if activity is not None else room.created_at
    info["lastSeq"] = await store.last_seq(room.id)
    info["readPositions"] = await store.read_positions(room.id)
    if viewer_id is None:
        return info
    state = (await store.unread(viewer_id, [room.id])).get(room.id)
    if state is not None:
        info.update(lastRead=state.last_read, unread=state.count, mentions=state.mentions)
    return info


async def list_dms(store: Store, user_id: str) -> list[dict[str, Any]]:
    """The user's DMs, latest activity (message, else creation) first."""
    dms = [room for room in await store.rooms_of(user_id) if room.kind is RoomKind.DM]
    activity = await store.last_activity([room.id for room in dms])
    listed = [
        await dm_json(store, room, user_id, activity=activity.get(room.id, room.created_at))
        for room in dms
    ]
    listed.sort(key=lambda info: (info["lastActivity"], info["id"]), reverse=True)
    return listed
