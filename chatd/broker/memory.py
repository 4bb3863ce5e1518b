"""The embedded Broker: everything in this process, for single-node installs and tests."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass

from chatd.broker.base import Broker, Listener, PresenceEntry, Revision, Roster
from chatd.broker.counters import LocalCounters

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class _Live:
    """A presence entry's username and its monotonic deadline."""

    username: str
    expires_at: float


class MemoryBroker(Broker):
    """In-process pub/sub, presence and counters: the zero-setup default.

    There is one node, so "every subscribed node" is this one. `publish` only
    enqueues and returns (it never waits for the listener, so a slow listener
    cannot stall the publisher); one delivery task hands messages to the
    listener in publish order. Deadlines use `time.monotonic` so wall-clock
    jumps neither revive nor kill entries.
    """

    def __init__(self) -> None:
        self._listener: Listener | None = None
        self._channels: set[str] = set()
        self._queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        # room -> (user_id, conn_id) -> entry
        self._presence: dict[str, dict[tuple[str, str], _Live]] = {}
        self._counters = LocalCounters()
        # key -> member -> (value, monotonic deadline), in first-put order
        self._rosters: dict[str, dict[str, tuple[bytes, float]]] = {}
        self._revs: dict[str, int] = {}

    # -- lifecycle -------------------------------------------------------------
    async def start(self) -> None:
        """Start the delivery task (also started lazily by the first publish)."""
        self._ensure_task()

    async def close(self) -> None:
        """Stop delivering; messages still queued are dropped, like a node going away."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task

    def _ensure_task(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._deliver(), name="memory-broker-delivery")

    async def _deliver(self) -> None:
        while True:
            channel, data = await self._queue.get()
            # Re-checked here: an unsubscribe between publish and delivery wins.
            if channel not in self._channels or self._listener is None:
                continue
            try:
                await self._listener(channel, data)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("broker listener failed on %s", channel)

    async def check(self) -> None:
        """Always ready: there is no backend to lose."""

    # -- pub/sub ---------------------------------------------------------------
    def set_listener(self, listener: Listener) -> None:
        self._listener = listener

    async def publish(self, channel: str, data: bytes) -> None:
        if channel in self._channels:
            self._ensure_task()
            self._queue.put_nowait((channel, data))

    async def subscribe(self, channel: str) -> None:
        self._channels.add(channel)

    async def unsubscribe(self, channel: str) -> None:
        self._channels.discard(channel)

    # -- presence --------------------------------------------------------------
    async def presence_refresh_many(
        self, entries: Sequence[tuple[str, PresenceEntry]], ttl: float
    ) -> None:
        expires_at = time.monotonic() + ttl
        for room_id, entry in entries:
            room = self._presence.setdefault(room_id, {})
            room[(entry.user_id, entry.conn_id)] = _Live(entry.username, expires_at)

    async def presence_remove(self, room_id: str, entry: PresenceEntry) -> None:
        room = self._presence.get(room_id)
        if room is not None:
            room.pop((entry.user_id, entry.conn_id), None)
            if not room:
                del self._presence[room_id]

    async def presence_lists(self, room_ids: Sequence[str]) -> dict[str, list[tuple[str, str]]]:
        return {room_id: self._online(room_id) for room_id in room_ids}

    def _online(self, room_id: str) -> list[tuple[str, str]]:
        room = self._presence.get(room_id)
        if room is None:
            return []
        now = time.monotonic()
        for key in [k for k, live in room.items() if live.expires_at <= now]:
            del room[key]
        if not room:
            del self._presence[room_id]
            return []
        # With two connections, the most recently refreshed one names the user.
        latest: dict[str, _Live] = {}
        for (user_id, _conn), live in room.items():
            seen = latest.get(user_id)
            if seen is None or live.expires_at >= seen.expires_at:
                latest[user_id] = live
        return sorted((user_id, live.username) for user_id, live in latest.items())

    # -- rosters ---------------------------------------------------------------
    def _bump(self, key: str) -> int:
        # Wall-clock microseconds as a floor keep revisions growing after the
        # roster empties and its counter is forgotten (like the Redis adapter).
        rev = max(self._revs.get(key, 0) + 1, time.time_ns() // 1000)
        self._revs[key] = rev
        return rev

    # Only roster_prune deletes expired members, so exactly one caller learns
    # of an expiry; the others just do not count or list them.
    def _live(self, key: str) -> dict[str, bytes]:
        now = time.monotonic()
        roster = self._rosters.get(key, {})
        return {m: v for m, (v, deadline) in roster.items() if deadline > now}

    async def roster_put(
        self, key: str, member: str, value: bytes, ttl: float, *, limit: int | None = None
    ) -> Revision:
        live = self._live(key)
        if member not in live and limit is not None and len(live) >= limit:
            return None
        self._rosters.setdefault(key, {})[member] = (value, time.monotonic() + ttl)
        if live.get(member) == value:
            return self._revs.get(key, 0)
        return self._bump(key)

    async def roster_put_many(self, entries: Sequence[tuple[str, str, bytes]], ttl: float) -> None:
        for key, member, value in entries:
            await self.roster_put(key, member, value, ttl)

    async def roster_remove(self, key: str, member: str) -> Revision:
        roster = self._rosters.get(key, {})
        if roster.pop(member, None) is None:
            return None
        if not roster:
            self._rosters.pop(key, None)
        return self._bump(key)

    async def roster_get(self, key: str) -> Roster:
        return Roster(self._revs.get(key, 0), self._live(key))

    async def roster_prune(self, keys: list[str]) -> list[str]:
        changed = []
        now = time.monotonic()
        for key in keys:
            roster = self._rosters.get(key)
            if roster is None:
                continue
            expired = [m for m, (_v, deadline) in roster.items() if deadline <= now]
            for member in expired:
                del roster[member]
            if not roster:
                del self._rosters[key]
            if expired:
                self._bump(key)
                changed.append(key)
        return changed

    # -- counters --------------------------------------------------------------
    async def incr(self, key: str, ttl: float) -> int:
        return await self._counters.incr(key, ttl)

    async def decr(self, key: str) -> None:
        await self._counters.decr(key)

    async def get_counter(self, key: str) -> tuple[int, float]:
        return await self._counters.get_counter(key)

    async def delete(self, key: str) -> None:
        await self._counters.delete(key)
