"""This node's sockets by room and by user, bridged to the broker.

Every room event is encoded once per node and the same bytes are queued to each
local member socket. Room events carry the room's `seq`; the hub delivers them
to local sockets in seq order with no gaps: an event that arrives ahead of one
it has not seen yet (two nodes publishing at once) makes the hub read the
missing ones from the store's event log (messages, edits, deletes, reactions),
where they are, because an event is committed with its seq before anyone
publishes it. (On MongoDB the log entry is the last of an event's writes, so
one taken an instant earlier by another node may still be on its way: the
hub holds what is ahead and polls for it, see _wait_for_gap.)
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Any

from chatd.broker import Broker, PresenceEntry
from chatd.broker.base import room_channel, user_channel
from chatd.errors import Unavailable
from chatd.fanout.connection import CLOSE_UNAUTHORIZED, Connection
from chatd.models import RoomEvent
from chatd.store import Store
from chatd.util.jsonutil import dumpb, loads
from chatd.wire import frames

logger = logging.getLogger(__name__)

_ROOM_PREFIX = "room:"
#: Missing events read from the store per query when closing a gap.
_GAP_PAGE = 500
#: How long a room's delivery waits for a missing seq before skipping it, and
#: how often it looks in the store meanwhile (see Hub._wait_for_gap).
GAP_WAIT_SECONDS = 2.0
GAP_POLL_SECONDS = 0.02
#: Presence broadcasts per room and node are throttled: the first change goes
#: out at once, changes within the interval after it go out together at its
#: end. The interval grows with the room (PRESENCE_INTERVAL_SECONDS per
#: PRESENCE_USERS_PER_INTERVAL online users, at most PRESENCE_MAX_INTERVAL_SECONDS):
#: every broadcast carries the whole online list to every member, so a join
#: storm in a room of N would otherwise cost O(N^2) frames of O(N) bytes.
#: While changes keep coming (each interval ends with a folded broadcast) the
#: interval doubles, up to the maximum; the first change after a quiet interval
#: goes out at once and starts again from the room's base interval. In a
#: reconnect storm every room's members come back over seconds, and a fixed
#: 0.1 s sent most rooms a full list per returning member.
PRESENCE_INTERVAL_SECONDS = 0.1
PRESENCE_USERS_PER_INTERVAL = 100
PRESENCE_MAX_INTERVAL_SECONDS = 2.0

#: Called with (connection, room id) after a socket starts or stops receiving a
#: room on this node (join, leave, disconnect); see Hub.add_room_hooks.
RoomHook = Callable[[Connection, str], Awaitable[None]]


class Hub:
    """Local fan-out and subscriptions; one per node, owned by the app's hub context."""

    def __init__(
        self, *, store: Store, broker: Broker, node_id: str, prefix: str, presence_ttl: float
    ) -> None:
        self._store = store
        self._broker = broker
        self._node = node_id
        self._prefix = prefix
        self.presence_ttl = presence_ttl
        self._rooms: dict[str, set[Connection]] = defaultdict(set)
        #: A user's sockets here. A list, not a set: a user has one or a few, and
        #: an empty set alone costs 216 B per connected user (scenario 4).
        self._users: dict[str, list[Connection]] = {}
        self._by_id: dict[str, Connection] = {}
        self._joined_hooks: list[RoomHook] = []
        self._left_hooks: list[RoomHook] = []
        self._next_seq: dict[str, int] = {}
        #: Rooms being started (see _start_room): their events are held meanwhile.
        self._starting: set[str] = set()
        self._room_locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._presence_seen: dict[str, list[tuple[str, str]]] = {}
        #: Presence throttling (see PRESENCE_INTERVAL_SECONDS): when each room may
        #: broadcast next, the interval that time came from (doubled while changes
        #: keep coming), and the trailing broadcasts waiting for that time.
        self._presence_next: dict[str, float] = {}
        self._presence_interval: dict[str, float] = {}
        self._presence_pending: dict[str, asyncio.Task[None]] = {}
        #: Events that arrived ahead of a missing seq, by room then seq.
        self._held: dict[str, dict[int, bytes]] = defaultdict(dict)
        self._gap_waiters: dict[str, asyncio.Task[None]] = {}
        self._user_channel_prefix = user_channel(prefix, "")[: -len(":channel")]
        #: Set by close_all: the node is going away (see leave_local).
        self._stopping = False
        #: Detaches under way (see detach), kept so they run to the end.
        self._detaching: set[asyncio.Task[None]] = set()
        broker.set_listener(self._on_broker_message)

    # -- registry ----------------------------------------------------------------
    @property
    def connections(self) -> list[Connection]:
        return [conn for conns in self._users.values() for conn in conns]

    def local_rooms(self) -> list[str]:
        return [room for room, conns in self._rooms.items() if conns]

    def user_connections(self, user_id: str) -> list[Connection]:
        return list(self._users.get(user_id, ()))

    def add_room_hooks(
        self, *, joined: RoomHook | None = None, left: RoomHook | None = None
    ) -> None:
        """Run `joined`/`left` whenever a local socket starts/stops receiving a room.

        `left` also runs for every room of a socket that disconnects, so state a
        feature keeps per socket and room (a call) never outlives the socket.
        A hook that raises is logged; the others still run.
        """
        if joined is not None:
            self._joined_hooks.append(joined)
        if left is not None:
            self._left_hooks.append(left)

    async def attach(self, conn: Connection) -> None:
        self._by_id[conn.id] = conn
        conns = self._users.setdefault(conn.user.id, [])
        first = not conns
        if conn not in conns:
            conns.append(conn)
        if first:
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
        self._by_id.pop(conn.id, None)
        conns = self._users.get(conn.user.id)
        if conns is not None:
            if conn in conns:
                conns.remove(conn)
            if not conns:
                del self._users[conn.user.id]
                if not self._stopping:
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
            # _start_room fills it in).
            conn.join_room(room_id, self._next_seq.get(room_id))
            first = not self._rooms[room_id]
            self._rooms[room_id].add(conn)
            if first:
                await self._start_room(room_id)
        await self._presence_call(
            self._broker.presence_refresh(new, _entry(conn), self.presence_ttl)
        )
        for room_id in new:
            if announce:
                await self.announce_presence(room_id)
            await self._run_hooks(self._joined_hooks, conn, room_id)

    async def _start_room(self, room_id: str) -> None:
        """Subscribe to a room this node did not serve, and deliver every event after
        the store's last seq as read *before* subscribing, exactly once, in order.

        Until the start is known, events that arrive are held, not delivered:
        the first one seen must not set the start (a node's own seq 2, delivered
        before another node's seq 1 came over the broker, would drop seq 1).
        The start is the lower of the read seq + 1 and the first held event: an
        event committed just before the read but published just after it is
        held, and must not count as delivered (reading after subscribing, as
        this once did, dropped such events in reconnect storms: a second socket
        of the room, already joined, sent them while the read was under way).
        Events committed before the read but published before the subscription
        took effect come from the store (the catch-up below).
        """
        self._starting.add(room_id)
        try:
            last: int | None = await self._store.last_seq(room_id)
        except Exception as exc:
            logger.warning("room %s: cannot read its last seq: %s", room_id, exc)
            last = None
        await self._subscribe(room_channel(room_id))
        async with self._room_locks[room_id]:
            self._starting.discard(room_id)
            if room_id in self._next_seq or room_id not in self._rooms:
                return
            held = self._held.get(room_id)
            if last is None:
                # Without the store's word, start at the first event held, if any.
                if held:
                    self._next_seq[room_id] = min(held)
                    self._note_live_from(room_id)
                    self._flush_held(room_id)
                return
            # An event held here was published after the start began, so no
            # socket here has it, even if the read above already counted it.
            self._next_seq[room_id] = min([last + 1, *(held or ())])
            self._note_live_from(room_id)
            await self._fill_gap(room_id, None)
            self._flush_held(room_id)
            self._wait_if_held(room_id)

    def _note_live_from(self, room_id: str) -> None:
        """The room's start is known: every socket that joined meanwhile gets it all."""
        start = self._next_seq[room_id]
        for conn in self._rooms.get(room_id, ()):
            if conn.live_from(room_id) is None:
                conn.set_live_from(room_id, start)

    async def leave_local(self, conn: Connection, room_id: str) -> None:
        if room_id not in conn.rooms:
            return
        conn.leave_room(room_id)
        conns = self._rooms.get(room_id)
        if conns is not None:
            conns.discard(conn)
        if self._stopping:
            # Shutting down: every socket leaves at once. Thousands of presence
            # removals, broadcasts and unsubscribes queued on Redis made the
            # shutdown (and a restart's downtime) take seconds; the node's
            # presence entries expire with their TTL instead, as a crashed
            # node's do, and its clients are back (on a node) within seconds.
            # Calls still drop the socket's participation at once.
            await self._run_hooks(self._left_hooks, conn, room_id)
            return
        await self._presence_call(self._broker.presence_remove(room_id, _entry(conn)))
        await self.announce_presence(room_id)
        await self._run_hooks(self._left_hooks, conn, room_id)
        # Re-read after the awaits: another socket may have left (and cleaned
        # up) or joined the room meanwhile.
        if conns is not None and not self._rooms.get(room_id):
            self._rooms.pop(room_id, None)
            self._next_seq.pop(room_id, None)
            self._held.pop(room_id, None)
            self._presence_seen.pop(room_id, None)
            self._presence_next.pop(room_id, None)
            self._presence_interval.pop(room_id, None)
            # A trailing broadcast still goes out: other nodes' members of the
            # room learn that the last of ours left.
            await self._unsubscribe(room_channel(room_id))

    # -- publishing ----------------------------------------------------------------
    async def publish_event(self, room_id: str, seq: int, frame: dict[str, Any]) -> None:
        """A stored room event: deliver here in order, then to every other node."""
        data = dumpb(frame)
        await self._deliver_event(room_id, seq, data)
        await self._publish(room_channel(room_id), {"s": seq}, data)

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
        header: dict[str, Any] = {"x": exclude_id}
        if only is not None:
            header["o"] = only
            if self._deliver_to(room_id, data, only):
                return  # the peer is on this node: no other node has it
        else:
            self._deliver_ephemeral(room_id, data, exclude_id)
        await self._publish(room_channel(room_id), header, data)

    async def publish_user(self, user_id: str, event: dict[str, Any]) -> None:
        """A user-scoped event (joined a room, revoked, a private frame) on every node.

        `{"kind": "frame", "frame": {...}, "exclude": <connection id>?}` sends the
        frame to every socket of the user but the excluded one (the sender,
        answered directly).
        """
        await self._apply_user_event(user_id, event)
        await self._publish(user_channel(self._prefix, user_id), {}, dumpb(event))

    async def announce_presence(self, room_id: str) -> None:
        """Broadcast the room's online list now, or with the next throttled broadcast."""
        if room_id in self._presence_pending:
            return  # the pending broadcast reads the list when it goes out
        loop = asyncio.get_running_loop()
        wait = self._presence_next.get(room_id, 0.0) - loop.time()
        if wait > 0:
            self._presence_pending[room_id] = loop.create_task(
                self._announce_later(room_id, wait), name=f"presence-{room_id}"
            )
            return
        await self.broadcast_presence(room_id)

    async def _announce_later(self, room_id: str, wait: float) -> None:
        try:
            await asyncio.sleep(wait)
        finally:
            self._presence_pending.pop(room_id, None)
        await self.broadcast_presence(room_id, folded=True)

    async def broadcast_presence(self, room_id: str, *, folded: bool = False) -> None:
        """Send the room's online list to every member on every node (unthrottled).

        `folded`: this broadcast carries changes that came within the room's
        interval, so the next interval is twice as long (PRESENCE_INTERVAL_SECONDS).
        """
        if room_id in self._rooms:  # not after the room's last socket here left
            # The room's next slot is taken before the list is read: changes that
            # come while it is read (a round trip on Redis) are folded into the
            # next broadcast. Taken after the read, as it once was, every join of
            # a concurrent storm found the slot free and sent a list of its own.
            # The room's size is therefore the one its last broadcast saw.
            users_seen = len(self._presence_seen.get(room_id, ()))
            interval = PRESENCE_INTERVAL_SECONDS * max(
                1, users_seen / PRESENCE_USERS_PER_INTERVAL
            )
            if folded:
                interval = max(interval, 2 * self._presence_interval.get(room_id, 0.0))
            interval = min(interval, PRESENCE_MAX_INTERVAL_SECONDS)
            self._presence_interval[room_id] = interval
            self._presence_next[room_id] = asyncio.get_running_loop().time() + interval
        online = await self._presence_lists([room_id])
        if online is None:
            return
        users = online[room_id]
        if room_id in self._rooms:
            self._presence_seen[room_id] = users
        await self.publish_ephemeral(room_id, frames.presence(room_id, users))

    # -- heartbeats and recovery -------------------------------------------------------
    async def refresh_presence(self) -> None:
        """Keep this node's entries alive and notice entries that expired elsewhere.

        Two batched broker calls for the whole node, not one per socket and room:
        thousands of them every heartbeat crowded out message delivery.
        """
        entries: list[tuple[str, PresenceEntry]] = []
        for conn in self.connections:
            entry = _entry(conn)
            entries += [(room_id, entry) for room_id in conn.rooms]
        await self._presence_call(self._broker.presence_refresh_many(entries, self.presence_ttl))
        online = await self._presence_lists(self.local_rooms())
        if online is None:
            return
        for room_id, users in online.items():
            if room_id in self._rooms and users != self._presence_seen.get(room_id):
                self._presence_seen[room_id] = users
                self._deliver_ephemeral(room_id, dumpb(frames.presence(room_id, users)), None)

    async def catch_up(self) -> None:
        """After a broker outage: deliver from the store whatever was published meanwhile."""
        for room_id in self.local_rooms():
            async with self._room_locks[room_id]:
                await self._fill_gap(room_id, None)
        await self.refresh_presence()

    async def stop(self) -> None:
        """Finish detaches under way, then cancel gap waiters and pending presence
        broadcasts (the hub's background tasks)."""
        await asyncio.gather(*self._detaching, return_exceptions=True)
        for task in [*self._gap_waiters.values(), *self._presence_pending.values()]:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task

    async def close_all(self, code: int, reason: str) -> None:
        """Close every socket at once (shutdown): each close waits for its client's
        answer, and one by one thousands of them took seconds of downtime."""

        self._stopping = True

        async def close(conn: Connection) -> None:
            conn.closing = True
            with suppress(Exception):
                await conn.ws.close(code=code, message=reason.encode())

        await asyncio.gather(*(close(conn) for conn in self.connections))

    # -- delivery ------------------------------------------------------------------------
    async def _deliver_event(self, room_id: str, seq: int, data: bytes) -> None:
        if not self._rooms.get(room_id):
            return  # nobody here (e.g. a REST post): a later first join starts afresh
        async with self._room_locks[room_id]:
            expected = self._next_seq.get(room_id)
            if expected is None and room_id in self._starting:
                self._held[room_id][seq] = data  # delivered once the start is known
                return
            if expected is not None and seq < expected:
                return  # already delivered (our own echo, or filled from the store)
            if expected is None or seq == expected:
                self._send_event(room_id, seq, data)
                self._flush_held(room_id)
                return
            # Ahead of an event we have not seen: hold it, and read the missing
            # ones from the store (where they are, or very soon will be).
            self._held[room_id][seq] = data
            await self._fill_gap(room_id, min(self._held[room_id]))
            self._flush_held(room_id)
            self._wait_if_held(room_id)

    def _wait_if_held(self, room_id: str) -> None:
        """Events still held wait for the missing seq (see _wait_for_gap)."""
        if self._held.get(room_id) and room_id not in self._gap_waiters:
            self._gap_waiters[room_id] = asyncio.create_task(self._wait_for_gap(room_id))

    def _send_event(self, room_id: str, seq: int, data: bytes) -> None:
        self._next_seq[room_id] = seq + 1
        for conn in tuple(self._rooms.get(room_id, ())):
            conn.send_room_event(room_id, seq, data)

    def _flush_held(self, room_id: str) -> None:
        """Deliver held events that are next in line; drop ones already delivered."""
        held = self._held.get(room_id)
        while held:
            expected = self._next_seq[room_id]
            lowest = min(held)
            if lowest < expected:
                del held[lowest]
            elif lowest == expected:
                self._send_event(room_id, lowest, held.pop(lowest))
            else:
                return
        self._held.pop(room_id, None)

    async def _wait_for_gap(self, room_id: str) -> None:
        """Poll the store for a missing seq; after GAP_WAIT_SECONDS, skip it.

        On MongoDB a seq is allocated (`$inc`) a moment before its event is
        inserted, so another node's later event can overtake it; it shows up
        within milliseconds. A node that crashed between the two never inserts
        it: that seq stays a gap, and waiting longer would only delay the room.
        """
        deadline = asyncio.get_running_loop().time() + GAP_WAIT_SECONDS
        try:
            while self._held.get(room_id):
                await asyncio.sleep(GAP_POLL_SECONDS)
                async with self._room_locks[room_id]:
                    held = self._held.get(room_id)
                    if not held:
                        return
                    await self._fill_gap(room_id, min(held))
                    if asyncio.get_running_loop().time() > deadline:
                        logger.warning(
                            "room %s: seq %d never arrived; skipping it",
                            room_id,
                            self._next_seq.get(room_id),
                        )
                        self._next_seq[room_id] = min(held)
                    self._flush_held(room_id)
        finally:
            self._gap_waiters.pop(room_id, None)

    async def _fill_gap(self, room_id: str, upto: int | None) -> None:
        """Deliver logged events from the next expected seq up to (not incl.) `upto`.

        `upto=None` (catch-up after a broker outage) delivers everything logged.
        """
        expected = self._next_seq.get(room_id)
        if expected is None:
            return
        while upto is None or expected < upto:
            limit = _GAP_PAGE if upto is None else min(_GAP_PAGE, upto - expected)
            events = await self._store.events_after(room_id, expected - 1, limit)
            for ev in events:
                if ev.seq != expected or (upto is not None and ev.seq >= upto):
                    return  # a hole: stop at it rather than deliver past it
                self._send_logged(room_id, ev)
                expected = ev.seq + 1
            if len(events) < limit:
                return

    def _send_logged(self, room_id: str, ev: RoomEvent) -> None:
        """Deliver a logged event rebuilt as its frame (see frames.event)."""
        frame = frames.event(ev)
        if frame is None:
            # A message deleted since: nothing to show, its delete follows.
            self._next_seq[room_id] = ev.seq + 1
            return
        self._send_event(room_id, ev.seq, dumpb(frame))

    def _deliver_to(self, room_id: str, data: bytes, conn_id: str) -> bool:
        """Queue to one local socket if it is here and in the room; True if it was."""
        conn = self._by_id.get(conn_id)
        if conn is None or room_id not in conn.rooms:
            return False
        conn.send_raw(data)
        return True

    async def _run_hooks(self, hooks: list[RoomHook], conn: Connection, room_id: str) -> None:
        for hook in hooks:
            try:
                await hook(conn, room_id)
            except Unavailable as exc:
                # An outage, already reported by /readyz: one line, no traceback.
                logger.warning("room hook skipped for %s in %s: %s", conn.id, room_id, exc)
            except Exception:
                logger.exception("room hook %r failed for %s in %s", hook, conn.id, room_id)

    def _deliver_ephemeral(self, room_id: str, data: bytes, exclude_id: str | None) -> None:
        for conn in tuple(self._rooms.get(room_id, ())):
            if conn.id != exclude_id:
                conn.send_raw(data)

    async def _apply_user_event(self, user_id: str, event: dict[str, Any]) -> None:
        kind = event.get("kind")
        conns = list(self._users.get(user_id, ()))
        if kind == "join":
            room_id = str(event["room"])
            for conn in conns:
                if room_id not in conn.rooms:
                    await self.join_local(conn, room_id)
                    conn.send(frames.joined(event["roomInfo"]))
        elif kind == "leave":
            room_id = str(event["room"])
            for conn in conns:
                await self.leave_local(conn, room_id)
                conn.send(frames.left(room_id))
        elif kind == "frame":
            data = dumpb(event["frame"])
            exclude = event.get("exclude")
            for conn in conns:
                if conn.id != exclude:
                    conn.send_raw(data)
        elif kind == "revoked":
            for conn in conns:
                if event.get("jti") == conn.claims.jti or (
                    "version" in event and conn.claims.version < int(event["version"])
                ):
                    conn.send(frames.error("token_expired", "session revoked; log in again"))
                    conn.close_soon(CLOSE_UNAUTHORIZED, "token revoked")

    # -- broker plumbing -------------------------------------------------------------------
    async def _publish(self, channel: str, header: dict[str, Any], data: bytes) -> None:
        header["n"] = self._node
        try:
            await self._broker.publish(channel, dumpb(header) + b"\n" + data)
        except Exception as exc:
            # Already stored and delivered here; other nodes catch up from the
            # store when the broker is back (see catch_up).
            logger.warning("publish to %s failed: %s", channel, exc)

    async def _on_broker_message(self, channel: str, payload: bytes) -> None:
        head, _, data = payload.partition(b"\n")
        try:
            header = loads(head)
        except ValueError:
            logger.warning("dropping malformed broker message on %s", channel)
            return
        if header.get("n") == self._node:
            return  # our own echo: delivered locally already
        if channel.startswith(_ROOM_PREFIX):
            room_id = channel[len(_ROOM_PREFIX) : -len(":channel")]
            seq = header.get("s")
            if isinstance(seq, int) and seq > 0:
                await self._deliver_event(room_id, seq, data)
            elif isinstance(header.get("o"), str):
                self._deliver_to(room_id, data, header["o"])
            else:
                self._deliver_ephemeral(room_id, data, header.get("x"))
        elif channel.startswith(self._user_channel_prefix):
            user_id = channel[len(self._user_channel_prefix) : -len(":channel")]
            await self._apply_user_event(user_id, loads(data))

    async def _subscribe(self, channel: str) -> None:
        try:
            await self._broker.subscribe(channel)
        except Exception as exc:
            logger.warning("subscribe to %s failed (will resubscribe): %s", channel, exc)

    async def _unsubscribe(self, channel: str) -> None:
        with suppress(Exception):
            await self._broker.unsubscribe(channel)

    async def _presence_lists(self, room_ids: list[str]) -> dict[str, list[tuple[str, str]]] | None:
        try:
            return await self._broker.presence_lists(room_ids)
        except Exception as exc:
            logger.warning("presence of %d room(s) unavailable: %s", len(room_ids), exc)
            return None

    async def _presence_call(self, call: Any) -> None:
        try:
            await call
        except Exception as exc:
            logger.warning("presence update failed: %s", exc)


def _entry(conn: Connection) -> PresenceEntry:
    return PresenceEntry(user_id=conn.user.id, username=conn.user.username, conn_id=conn.id)
