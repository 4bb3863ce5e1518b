"""Opening a direct message: the one room of exactly these 2-10 people.

The first open creates it and announces it live to every member; any later
open, by any member, from any node, finds the same room (`dms.dm_room_id`).
"""

from __future__ import annotations

from collections.abc import Sequence

from chatd.actions.deps import ActionDeps
from chatd.actions.rooms import announce_join
from chatd.domain.dms import DM_SIZE_RULE, MAX_DM_MEMBERS, check_is_the_dm, dm_json, dm_room_id
from chatd.errors import Invalid
from chatd.models import Room, RoomKind, User
from chatd.store import Store
from chatd.util.clock import now_ms


async def open_dm(deps: ActionDeps, opener: User, usernames: Sequence[str]) -> Room:
    """The DM of the opener and the users named (any letter case; the opener may be named).

    Invalid (`fields.users`) for unknown names or other than 1-9 others;
    DmConflict when a room other than this DM holds its id.
    """
    members = await _members(deps.store, opener, usernames)
    names = sorted((m.username for m in members), key=str.casefold)
    room = await deps.store.ensure_room(
        Room(
            id=dm_room_id([m.id for m in members]),
            name=", ".join(names),
            kind=RoomKind.DM,
            created_by=opener.id,
            created_at=now_ms(),
        )
    )
    await check_is_the_dm(deps.store, room, {m.id for m in members})
    # Every member is a plain member: a DM has no owner or moderator.
    added = [m for m in members if await deps.store.add_member(room.id, m.id)]
    if added:
        info = await dm_json(deps.store, room)
        for member in added:
            await announce_join(deps.hub, member.id, room, info=info)
    return room


async def _members(store: Store, opener: User, usernames: Sequence[str]) -> list[User]:
    members: dict[str, User] = {opener.id: opener}
    unknown = []
    for name in usernames:
        user = await store.get_user_by_name(name)
        if user is None:
            unknown.append(name)
        else:
            members[user.id] = user
    if unknown:
        raise Invalid("no such user", fields={"users": [f"No such user: {', '.join(unknown)}."]})
    if not 2 <= len(members) <= MAX_DM_MEMBERS:
        raise Invalid(
            f"a DM is you and 1-{MAX_DM_MEMBERS - 1} others", fields={"users": [DM_SIZE_RULE]}
        )
    return list(members.values())
