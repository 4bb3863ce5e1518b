"""The Broker port.

Channels are plain strings; `room_channel()` gives the contract's name for a room
(`<prefix>room:<room>:channel`). Every key and channel carries the deployment's
prefix (`CHATD_REDIS_PREFIX`): Redis pub/sub ignores the database number, so
without it two deployments sharing one Redis would see each other's rooms. The
embedded adapter keeps everything in process; the Redis adapter shares it
between nodes. Both are checked by
tests/contract/test_broker.py.
"""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from chatd.errors import Unavailable

#: Called for every message on a subscribed channel, from every node (own echo
#: included; callers that need to skip it put a node id in the payload).
Listener = Callable[[str, bytes], Awaitable[None]]

#: A new roster revision; `None` when a put was refused (full) or a remove found nothing.
Revision = int | None


class BrokerUnavailable(Unavailable):
    """The broker backend cannot be reached right now (`str()` is the readable reason)."""

    def __init__(self, reason: str) -> None:
        super().__init__("broker", reason)


def room_channel(prefix: str, room_id: str) -> str:
    """The pub/sub channel of a room, as the public contract names it."""
    return f"{prefix}room:{room_id}:channel"


def room_users_key(prefix: str, room_id: str) -> str:
    """The online-users set of a room, as the public contract names it."""
    return f"{prefix}room:{room_id}:users"


@dataclass(frozen=True, slots=True)
class PresenceEntry:
    """One online connection of a user in a room."""

    user_id: str
    username: str
    conn_id: str


@dataclass(frozen=True, slots=True)
class Roster:
    """The live members of a roster (member -> value, in no set order) and its revision.

    `rev` grows with every change (put of a new member or a new value, remove,
    expiry), across every node and even across the roster emptying and coming
    back, so a reader can drop a snapshot older than one it already showed.
    """

    rev: int
    members: dict[str, bytes]


class Broker(abc.ABC):
    """Fan-out and shared ephemeral state."""

    @abc.abstractmethod
    async def check(self) -> None:
        """Raise BrokerUnavailable with a readable reason if the backend does not answer."""

    # -- pub/sub ---------------------------------------------------------------
    @abc.abstractmethod
    def set_listener(self, listener: Listener) -> None:
        """Install the one callback that receives every message on subscribed channels."""

    @abc.abstractmethod
    async def publish(self, channel: str, data: bytes) -> None:
        """Send `data` to every node subscribed to `channel` (this one included)."""

    @abc.abstractmethod
    async def subscribe(self, channel: str) -> None:
        """Start receiving `channel`. Idempotent; survives backend reconnects."""

    @abc.abstractmethod
    async def unsubscribe(self, channel: str) -> None: ...

    # -- presence --------------------------------------------------------------
    async def presence_add(self, room_id: str, entry: PresenceEntry, ttl: float) -> None:
        """Mark a connection online in a room until `ttl` seconds pass without a refresh."""
        await self.presence_refresh_many([(room_id, entry)], ttl)

    async def presence_refresh(self, room_ids: list[str], entry: PresenceEntry, ttl: float) -> None:
        """Mark one connection online in several rooms (a socket's rooms at hello)."""
        await self.presence_refresh_many([(room_id, entry) for room_id in room_ids], ttl)

    @abc.abstractmethod
    async def presence_refresh_many(
        self, entries: Sequence[tuple[str, PresenceEntry]], ttl: float
    ) -> None:
        """Upsert (room id, entry) pairs, each live for `ttl` seconds from now.

        An upsert, not only an extension: a connection that is still
        heartbeating is online even if its entry lapsed meanwhile (or Redis
        restarted empty). A node's heartbeat refreshes every socket in every
        room with one call, which adapters may split into a few round trips.
        """

    @abc.abstractmethod
    async def presence_remove(self, room_id: str, entry: PresenceEntry) -> None: ...

    async def presence_list(self, room_id: str) -> list[tuple[str, str]]:
        """(user_id, username) of every user with at least one live connection, sorted."""
        return (await self.presence_lists([room_id]))[room_id]

    @abc.abstractmethod
    async def presence_lists(self, room_ids: Sequence[str]) -> dict[str, list[tuple[str, str]]]:
        """presence_list of several rooms at once (every room given is a key)."""

    # -- rosters: small expiring per-connection listings with a value (calls) --
    @abc.abstractmethod
    async def roster_put(
        self, key: str, member: str, value: bytes, ttl: float, *, limit: int | None = None
    ) -> Revision:
        """Upsert a member's value and push its expiry `ttl` seconds out.

        With `limit`, a member not in the roster yet is refused (None) while the
        roster already holds `limit` live members; the check and the insert are
        atomic across nodes. Returns the roster's revision (unchanged when only
        the expiry moved).
        """

    @abc.abstractmethod
    async def roster_put_many(self, entries: Sequence[tuple[str, str, bytes]], ttl: float) -> None:
        """roster_put (no limit) of many (key, member, value) entries at once.

        A node's heartbeat keeps every socket it serves alive this way, with a
        few round trips for the whole node instead of one per socket.
        """

    @abc.abstractmethod
    async def roster_remove(self, key: str, member: str) -> Revision:
        """Remove a member; the new revision, or None if it was not there."""

    @abc.abstractmethod
    async def roster_get(self, key: str) -> Roster:
        """The live members. Expired ones are left out but not deleted (see prune)."""

    @abc.abstractmethod
    async def roster_prune(self, keys: list[str]) -> list[str]:
        """Drop expired members of these rosters; return the keys that lost any.

        A node that crashed stops refreshing its members; whichever node prunes
        first learns of it (exactly one does: no other operation deletes
        expired members) and can tell everyone.
        """

    # -- shared counters (rate limits, login throttling) -----------------------
    @abc.abstractmethod
    async def incr(self, key: str, ttl: float) -> int:
        """Increment a counter; the first increment starts its `ttl`-second life."""

    @abc.abstractmethod
    async def decr(self, key: str) -> None:
        """Give one back to a live counter (an attempt that was counted but not made).

        Never below 0, and never revives an expired or deleted counter; its
        remaining life is unchanged.
        """

    @abc.abstractmethod
    async def get_counter(self, key: str) -> tuple[int, float]:
        """(value, seconds left to live); (0, 0.0) if absent."""

    @abc.abstractmethod
    async def delete(self, key: str) -> None: ...


def user_channel(prefix: str, user_id: str) -> str:
    """A user's private channel (revocations, DM notifications) under chatd's key prefix."""
    return f"{prefix}user:{user_id}:channel"
