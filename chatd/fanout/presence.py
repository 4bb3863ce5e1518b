"""Who is online in each room: this node's entries in the broker, and the
throttled `presence` broadcasts that tell every member.

Broadcasts per room and node are throttled: the first change goes out at once,
changes within the interval after it go out together at its end. The interval
grows with the room (`interval` per `users_per_interval` online users, at most
`max_interval`): every broadcast carries the whole online list to every member,
so a join storm in a room of N would otherwise cost O(N^2) frames of O(N) bytes.
While changes keep coming (each interval ends with a folded broadcast) the
interval doubles, up to the maximum; the first change after a quiet interval
goes out at once and starts again from the room's base interval. In a reconnect
storm every room's members come back over seconds, and a fixed 0.1 s sent most
rooms a full list per returning member.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Any

from chatd.broker import Broker, PresenceEntry
from chatd.errors import Unavailable
from chatd.fanout.connection import Connection
from chatd.fanout.registry import SocketRegistry
from chatd.util.clock import Clock
from chatd.util.jsonutil import dumpb
from chatd.util.outages import OutageLog
from chatd.wire import frames

logger = logging.getLogger(__name__)

#: The throttle's defaults (see the module's docstring).
PRESENCE_INTERVAL_SECONDS = 0.1
PRESENCE_USERS_PER_INTERVAL = 100
PRESENCE_MAX_INTERVAL_SECONDS = 2.0

#: Sends a frame to a room's members on every node (Hub.publish_ephemeral).
Publish = Callable[[str, frames.Frame], Awaitable[None]]


class RoomPresence:
    """This node's presence entries and each room's throttled broadcasts."""

    def __init__(
        self,
        *,
        broker: Broker,
        registry: SocketRegistry,
        publish: Publish,
        clock: Clock,
        ttl: float,
        outages: OutageLog,
        interval: float = PRESENCE_INTERVAL_SECONDS,
        users_per_interval: int = PRESENCE_USERS_PER_INTERVAL,
        max_interval: float = PRESENCE_MAX_INTERVAL_SECONDS,
    ) -> None:
        self._broker = broker
        self._outages = outages
        self._registry = registry
        self._publish = publish
        self._clock = clock
        self.ttl = ttl
        self._base_interval = interval
        self._users_per_interval = users_per_interval
        self._max_interval = max_interval
        #: Each room's online list as last broadcast or read here.
        self._seen: dict[str, list[tuple[str, str]]] = {}
        #: When each room may broadcast next, the interval that time came from
        #: (doubled while changes keep coming), and the trailing broadcasts
        #: waiting for that time.
        self._next: dict[str, float] = {}
        self._interval: dict[str, float] = {}
        self._pending: dict[str, asyncio.Task[None]] = {}

    # -- entries -----------------------------------------------------------------------
    async def joined(self, conn: Connection, room_ids: list[str]) -> None:
        """Mark a socket online in rooms (one broker call)."""
        await self._logged(self._broker.presence_refresh(room_ids, _entry(conn), self.ttl))

    async def left(self, conn: Connection, room_id: str) -> None:
        await self._logged(self._broker.presence_remove(room_id, _entry(conn)))

    def forget(self, room_id: str) -> None:
        """The room's last socket here left. A trailing broadcast still goes out:
        other nodes' members of the room learn that the last of ours left."""
        self._seen.pop(room_id, None)
        self._next.pop(room_id, None)
        self._interval.pop(room_id, None)

    # -- broadcasts ----------------------------------------------------------------------
    async def announce(self, room_id: str) -> None:
        """Broadcast the room's online list now, or with the next throttled broadcast."""
        if room_id in self._pending:
            return  # the pending broadcast reads the list when it goes out
        wait = self._next.get(room_id, 0.0) - self._clock.monotonic()
        if wait > 0:
            self._pending[room_id] = asyncio.get_running_loop().create_task(
                self._announce_later(room_id, wait), name=f"presence-{room_id}"
            )
            return
        await self.broadcast(room_id)

    async def _announce_later(self, room_id: str, wait: float) -> None:
        try:
            await self._clock.sleep(wait)
        finally:
            self._pending.pop(room_id, None)
        await self.broadcast(room_id, folded=True)

    async def broadcast(self, room_id: str, *, folded: bool = False) -> None:
        """Send the room's online list to every member on every node (unthrottled).

        `folded`: this broadcast carries changes that came within the room's
        interval, so the next interval is twice as long.
        """
        if self._registry.serves(room_id):  # not after the room's last socket here left
            # The room's next slot is taken before the list is read: changes that
            # come while it is read (a round trip on Redis) are folded into the
            # next broadcast. Taken after the read, as it once was, every join of
            # a concurrent storm found the slot free and sent a list of its own.
            # The room's size is therefore the one its last broadcast saw.
            users_seen = len(self._seen.get(room_id, ()))
            interval = self._base_interval * max(1, users_seen / self._users_per_interval)
            if folded:
                interval = max(interval, 2 * self._interval.get(room_id, 0.0))
            interval = min(interval, self._max_interval)
            self._interval[room_id] = interval
            self._next[room_id] = self._clock.monotonic() + interval
        online = await self._lists([room_id])
        if online is None:
            return
        users = online[room_id]
        if self._registry.serves(room_id):
            self._seen[room_id] = users
        await self._publish(room_id, frames.presence(room_id, users))

    # -- heartbeat -------------------------------------------------------------------------
    async def refresh(self) -> None:
        """Keep this node's entries alive and notice entries that expired elsewhere.

        Two batched broker calls for the whole node, not one per socket and room:
        thousands of them every heartbeat crowded out message delivery.
        """
        entries: list[tuple[str, PresenceEntry]] = []
        for conn in self._registry.connections:
            entry = _entry(conn)
            entries += [(room_id, entry) for room_id in conn.rooms]
        await self._logged(self._broker.presence_refresh_many(entries, self.ttl))
        online = await self._lists(self._registry.local_rooms())
        if online is None:
            return
        for room_id, users in online.items():
            if self._registry.serves(room_id) and users != self._seen.get(room_id):
                self._seen[room_id] = users
                self._registry.deliver(room_id, dumpb(frames.presence(room_id, users)), None)

    async def stop(self) -> None:
        """Cancel the trailing broadcasts still waiting."""
        for task in list(self._pending.values()):
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task

    async def _lists(self, room_ids: list[str]) -> dict[str, list[tuple[str, str]]] | None:
        try:
            return await self._broker.presence_lists(room_ids)
        except Unavailable as exc:
            self._outages.note(exc, "presence")
        except Exception as exc:
            logger.warning("presence of %d room(s) unavailable: %s", len(room_ids), exc)
        return None

    async def _logged(self, call: Awaitable[Any]) -> None:
        try:
            await call
        except Unavailable as exc:
            # One line per outage, not one per socket or heartbeat.
            self._outages.note(exc, "presence")
        except Exception as exc:
            logger.warning("presence update failed: %s", exc)


def _entry(conn: Connection) -> PresenceEntry:
    return PresenceEntry(user_id=conn.user.id, username=conn.user.username, conn_id=conn.id)
