"""The Broker port.

Channels are plain strings; `room_channel()` gives the contract's name for a room
(`room:<room>:channel`). The embedded adapter keeps everything in process; the
Redis adapter shares it between nodes. Both are checked by
tests/contract/test_broker.py.
"""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

#: Called for every message on a subscribed channel, from every node (own echo
#: included; callers that need to skip it put a node id in the payload).
Listener = Callable[[str, bytes], Awaitable[None]]


class BrokerUnavailable(Exception):
    """The broker backend cannot be reached right now."""


def room_channel(room_id: str) -> str:
    """The pub/sub channel of a room, as the public contract names it."""
    return f"room:{room_id}:channel"


def room_users_key(room_id: str) -> str:
    """The online-users set of a room, as the public contract names it."""
    return f"room:{room_id}:users"


@dataclass(frozen=True, slots=True)
class PresenceEntry:
    """One online connection of a user in a room."""

    user_id: str
    username: str
    conn_id: str


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
    @abc.abstractmethod
    async def presence_add(self, room_id: str, entry: PresenceEntry, ttl: float) -> None:
        """Mark a connection online in a room until `ttl` seconds pass without a refresh."""

    @abc.abstractmethod
    async def presence_refresh(self, room_ids: list[str], entry: PresenceEntry, ttl: float) -> None:
        """Extend a connection's entries in several rooms (called from heartbeats)."""

    @abc.abstractmethod
    async def presence_remove(self, room_id: str, entry: PresenceEntry) -> None: ...

    @abc.abstractmethod
    async def presence_list(self, room_id: str) -> list[tuple[str, str]]:
        """(user_id, username) of every user with at least one live connection, sorted."""

    # -- shared counters (rate limits, login throttling) -----------------------
    @abc.abstractmethod
    async def incr(self, key: str, ttl: float) -> int:
        """Increment a counter; the first increment starts its `ttl`-second life."""

    @abc.abstractmethod
    async def get_counter(self, key: str) -> tuple[int, float]:
        """(value, seconds left to live); (0, 0.0) if absent."""

    @abc.abstractmethod
    async def delete(self, key: str) -> None: ...


def user_channel(prefix: str, user_id: str) -> str:
    """A user's private channel (revocations, DM notifications) under chatd's key prefix."""
    return f"{prefix}user:{user_id}:channel"
