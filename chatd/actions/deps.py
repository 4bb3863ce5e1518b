"""What every action is handed: its services, and whether membership is known."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from chatd.errors import NotFound
from chatd.fanout.hub import Hub
from chatd.files import FileStore
from chatd.models import Room
from chatd.store import Store

#: Tells the actor "done: this message, at this event seq" once the change is
#: stored and before anyone else hears of it (a frame adapter's `ack`), so the
#: actor's answer always comes before the broadcast it causes.
Acknowledge = Callable[[str, int], None]


@dataclass(frozen=True, slots=True)
class ActionDeps:
    """The services actions use, passed in (no globals); one per app."""

    store: Store
    hub: Hub
    files: FileStore


class Membership(enum.Enum):
    """Whether the acting user's membership of the room is already established."""

    #: The caller checked it (the frame router, against the socket's room set,
    #: on the hot path): the action does not look it up again.
    VERIFIED = "verified"
    #: The action checks it in the store first (REST views, CLI, bots).
    UNVERIFIED = "unverified"


async def member_room(
    deps: ActionDeps,
    user_id: str,
    room_id: str,
    membership: Membership = Membership.UNVERIFIED,
) -> Room:
    """The room if the user is a member; NotFound otherwise (no existence leak).

    Membership is checked in the store unless the caller has (see Membership).
    """
    room = await deps.store.get_room(room_id)
    if room is None or (
        membership is Membership.UNVERIFIED and not await deps.store.is_member(room.id, user_id)
    ):
        raise NotFound("no such room, or you are not a member")
    return room


async def ensure_member(
    deps: ActionDeps, user_id: str, room_id: str, membership: Membership
) -> None:
    """Check membership unless the caller has (see Membership)."""
    if membership is Membership.UNVERIFIED:
        await member_room(deps, user_id, room_id)
