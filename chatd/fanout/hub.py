"""This node's fan-out: one facade over the parts that each do one job.

- `registry.SocketRegistry`: the sockets by id, user and room, and room hooks;
- `ordering.RoomOrdering`: each room's events in seq order (hold, gap fill, the
  start of a room, catch-up after an outage);
- `presence.RoomPresence`: presence entries, throttled broadcasts, the heartbeat's refresh;
- `envelope`: the header every published frame carries between nodes;
- `user_events`: the typed events on a user's channel (joined, left, a frame, revoked).

Every room event is encoded once per node and the same bytes are queued to each
local member socket. The hub wires the parts to the broker: it publishes, routes
what other nodes publish, and (un)subscribes as rooms and users come and go.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress
from typing import Any

from chatd.broker import Broker
from chatd.broker.base import room_channel, user_channel
from chatd.errors import Unavailable
from chatd.fanout import envelope, user_events
from chatd.fanout.connection import CLOSE_UNAUTHORIZED, Connection
from chatd.fanout.envelope import Envelope
from chatd.fanout.ordering import RoomOrdering
from chatd.fanout.presence import RoomPresence
from chatd.fanout.registry import RoomHook, SocketRegistry
from chatd.fanout.user_events import JoinedRoom, LeftRoom, Revoked, UserEvent, UserFrame
from chatd.store import Store
from chatd.util.clock import Clock, LoopClock
from chatd.util.jsonutil import dumpb
from chatd.util.outages import OutageLog
from chatd.wire import frames

logger = logging.getLogger(__name__)

_CHANNEL_SUFFIX = ":channel"


class Hub:
    """Local fan-out and subscriptions; one per node, owned by the app's hub context."""

    def __init__(
        self,
        *,
        store: Store,
        broker: Broker,
        node_id: str,
        prefix: str,
        presence_ttl: float,
        clock: Clock | None = None,
        outages: OutageLog | None = None,
    ) -> None:
        clock = clock or LoopClock()
        self._broker = broker
        self._outages = outages = outages or OutageLog(logger)
        self._node = node_id
        self._prefix = prefix
        self._registry = SocketRegistry(outages)
        self._ordering = RoomOrdering(
            store=store,
            registry=self._registry,
            subscribe=self._subscribe,
            clock=clock,
        )
        self._presence = RoomPresence(
            broker=broker,
            registry=self._registry,
            publish=self.publish_ephemeral,
            clock=clock,
            ttl=presence_ttl,
            outages=outages,
        )
        # Both channel kinds start with the deployment's prefix (see room_channel).
        self._room_channel_prefix = room_channel(prefix, "")[: -len(_CHANNEL_SUFFIX)]
        self._user_channel_prefix = user_channel(prefix, "")[: -len(_CHANNEL_SUFFIX)]
        #: Set by close_all: the node is going away (see leave_local).
        self._stopping = False
        #: Detaches under way (see detach), kept so they run to the end.
        self._detaching: set[asyncio.Task[None]] = set()
        broker.set_listener(self._on_broker_message)

    # -- registry ----------------------------------------------------------------
    @property
    def presence_ttl(self) -> float:
        return self._presence.ttl

    @property
    def connections(self) -> list[Connection]:
        return self._registry.connections

    def local_rooms(self) -> list[str]:
        return self._registry.local_rooms()

    def user_connections(self, user_id: str) -> list[Connection]:
        return self._registry.user_connections(user_id)

    def add_room_hooks(
        self, *, joined: RoomHook | None = None, left: RoomHook | None = None
    ) -> None:
        """See SocketRegistry.add_room_hooks."""
        self._registry.add_room_hooks(joined=joined, left=left)

    async def attach(self, conn: Connection) -> None:
        if self._registry.add(conn):
            await self._subscribe(user_channel(self._prefix, conn.user.id))

    async def detach(self, conn: Connection) -> None:
        """Take a closed socket out of its rooms, presence and calls, to the end.

        The work runs in a task of the hub's own: a caller cancelled meanwhile
        (aiohttp cancels a handler whose client's connection is lost when
        handler_cancellation is on, as in its test server; shutdown does too)
        returns, and the socket is still fully detached. Cut short, it stayed in
        its rooms, online and in its calls until their TTLs ran out.
        """
        task = asyncio.create_task(self._detach(conn))
        self._detaching.add(task)
        task.add_done_callback(self._detaching.discard)
        await asyncio.shield(task)

    async def _detach(self, conn: Connection) -> None:
        for room_id in list(conn.rooms):
            await self.leave_local(conn, room_id)
        if self._registry.remove(conn) and not self._stopping:
            await self._unsubscribe(user_channel(self._prefix, conn.user.id))

    async def join_local(self, conn: Connection, room_id: str, *, announce: bool = True) -> None:
        """Start delivering the room to this socket and mark it online there."""
        await self.join_local_many(conn, [room_id], announce=announce)

    async def join_local_many(
        self, conn: Connection, room_ids: list[str], *, announce: bool = True
    ) -> None:
        """join_local for several rooms (a socket's rooms at hello), one presence write."""
        new = [room_id for room_id in dict.fromkeys(room_ids) if room_id not in conn.rooms]
        if not new:
            return
        for room_id in new:
            # The hub sends each room in seq order, so this socket gets every event
            # from the room's next seq on (unknown while the room starts here:
            # RoomOrdering.start fills it in).
            conn.join_room(room_id, self._ordering.next_seq(room_id))
            if self._registry.enter(conn, room_id):
                await self._ordering.start(room_id, room_channel(self._prefix, room_id))
        await self._presence.joined(conn, new)
        for room_id in new:
            if announce:
                await self._presence.announce(room_id)
            await self._registry.joined(conn, room_id)

    async def leave_local(self, conn: Connection, room_id: str) -> None:
        if room_id not in conn.rooms:
            return
        conn.leave_room(room_id)
        served = self._registry.exit(conn, room_id)
        if self._stopping:
            # Shutting down: every socket leaves at once. Thousands of presence
            # removals, broadcasts and unsubscribes queued on Redis made the
            # shutdown (and a restart's downtime) take seconds; the node's
            # presence entries expire with their TTL instead, as a crashed
            # node's do, and its clients are back (on a node) within seconds.
            # Calls still drop the socket's participation at once.
            await self._registry.left(conn, room_id)
            return
        await self._presence.left(conn, room_id)
        await self._presence.announce(room_id)
        await self._registry.left(conn, room_id)
        # Checked after the awaits: another socket may have left (and cleaned
        # up) or joined the room meanwhile.
        if served and self._registry.drop_if_empty(room_id):
            self._ordering.forget(room_id)
            self._presence.forget(room_id)
            await self._unsubscribe(room_channel(self._prefix, room_id))

    # -- publishing ----------------------------------------------------------------
    async def publish_event(self, room_id: str, seq: int, frame: dict[str, Any]) -> None:
        """A stored room event: deliver here in order, then to every other node."""
        data = dumpb(frame)
        await self._ordering.deliver(room_id, seq, data)
        await self._publish(
            room_channel(self._prefix, room_id), Envelope(self._node, seq=seq), data
        )

    async def publish_ephemeral(
        self,
        room_id: str,
        frame: dict[str, Any],
        *,
        exclude: Connection | None = None,
        only: str | None = None,
    ) -> None:
        """Typing, presence, call signals: delivered now or never (never stored).

        `only` names one connection (a `ready` frame's `session`): the frame
        reaches that socket, on whichever node it is, and only if it is in the
        room there. Call signals use it to address one peer.
        """
        data = dumpb(frame)
        exclude_id = exclude.id if exclude else None
        if only is not None:
            if self._registry.deliver_to(room_id, data, only):
                return  # the peer is on this node: no other node has it
        else:
            self._registry.deliver(room_id, data, exclude_id)
        await self._publish(
            room_channel(self._prefix, room_id),
            Envelope(self._node, exclude=exclude_id, only=only),
            data,
        )

    async def publish_user(self, user_id: str, event: UserEvent) -> None:
        """An event for every socket of the user (joined or left a room, revoked
        tokens, a private frame), on every node."""
        await self._apply_user_event(user_id, event)
        await self._publish(
            user_channel(self._prefix, user_id), Envelope(self._node), user_events.encode(event)
        )

    async def _apply_user_event(self, user_id: str, event: UserEvent) -> None:
        conns = self._registry.user_connections(user_id)
        match event:
            case JoinedRoom(room_id, info):
                for conn in conns:
                    if room_id not in conn.rooms:
                        await self.join_local(conn, room_id)
                        conn.send(frames.joined(info))
            case LeftRoom(room_id):
                for conn in conns:
                    await self.leave_local(conn, room_id)
                    conn.send(frames.left(room_id))
            case UserFrame(frame, exclude):
                data = dumpb(frame)
                for conn in conns:
                    if conn.id != exclude:
                        conn.send_raw(data)
            case Revoked():
                for conn in conns:
                    if event.covers(conn.claims):
                        conn.send(frames.error("token_expired", "session revoked; log in again"))
                        conn.close_soon(CLOSE_UNAUTHORIZED, "token revoked")

    # -- presence ---------------------------------------------------------------------
    async def announce_presence(self, room_id: str) -> None:
        """Broadcast the room's online list now, or with the next throttled broadcast."""
        await self._presence.announce(room_id)

    async def refresh_presence(self) -> None:
        """The heartbeat: keep this node's entries alive, push lists that changed."""
        await self._presence.refresh()

    # -- recovery and shutdown ---------------------------------------------------------
    async def catch_up(self) -> None:
        """After a broker outage: deliver from the store whatever was published meanwhile."""
        await self._ordering.catch_up()
        await self.refresh_presence()

    async def stop(self) -> None:
        """Finish detaches under way, then cancel gap waiters and pending presence
        broadcasts (the hub's background tasks)."""
        await asyncio.gather(*self._detaching, return_exceptions=True)
        await self._ordering.stop()
        await self._presence.stop()

    async def close_all(self, code: int, reason: str) -> None:
        """Close every socket at once (shutdown): each close waits for its client's
        answer, and one by one thousands of them took seconds of downtime."""

        self._stopping = True

        async def close(conn: Connection) -> None:
            conn.closing = True
            with suppress(Exception):
                await conn.ws.close(code=code, message=reason.encode())

        await asyncio.gather(*(close(conn) for conn in self.connections))

    # -- broker plumbing -------------------------------------------------------------------
    async def _publish(self, channel: str, header: Envelope, data: bytes) -> None:
        try:
            await self._broker.publish(channel, envelope.encode(header, data))
        except Unavailable as exc:
            # Already stored and delivered here; other nodes catch up from the
            # store when the broker is back (see catch_up). One line per
            # outage, not one per message sent during it.
            self._outages.note(exc, "publish")
        except Exception as exc:
            logger.warning("publish to %s failed: %s", channel, exc)

    async def _on_broker_message(self, channel: str, payload: bytes) -> None:
        try:
            header, data = envelope.decode(payload)
        except ValueError:
            logger.warning("dropping malformed broker message on %s", channel)
            return
        if header.node == self._node:
            return  # our own echo: delivered locally already
        if channel.startswith(self._room_channel_prefix):
            room_id = channel[len(self._room_channel_prefix) : -len(_CHANNEL_SUFFIX)]
            if header.seq is not None:
                await self._ordering.deliver(room_id, header.seq, data)
            elif header.only is not None:
                self._registry.deliver_to(room_id, data, header.only)
            else:
                self._registry.deliver(room_id, data, header.exclude)
        elif channel.startswith(self._user_channel_prefix):
            user_id = channel[len(self._user_channel_prefix) : -len(_CHANNEL_SUFFIX)]
            try:
                event = user_events.decode(data)
            except ValueError as exc:
                logger.warning("dropping a user event on %s: %s", channel, exc)
                return
            await self._apply_user_event(user_id, event)

    async def _subscribe(self, channel: str) -> None:
        try:
            await self._broker.subscribe(channel)
        except Exception as exc:
            logger.warning("subscribe to %s failed (will resubscribe): %s", channel, exc)

    async def _unsubscribe(self, channel: str) -> None:
        with suppress(Exception):
            await self._broker.unsubscribe(channel)
