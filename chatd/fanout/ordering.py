"""Each room's events to this node's sockets in seq order, exactly once, with no gaps.

An event that arrives ahead of one not seen yet (two nodes publishing at once)
makes the room read the missing ones from the store's event log (messages,
edits, deletes, reactions), where they are, because an event is committed with
its seq before anyone publishes it. (On MongoDB the log entry is the last of an
event's writes, so one taken an instant earlier by another node may still be on
its way: the room holds what is ahead and polls for it, see _wait_for_gap.)
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from contextlib import suppress

from chatd.fanout.registry import SocketRegistry
from chatd.models import RoomEvent
from chatd.store import Store
from chatd.util.clock import Clock
from chatd.util.jsonutil import dumpb
from chatd.wire import frames

logger = logging.getLogger(__name__)

#: Missing events read from the store per query when closing a gap.
_GAP_PAGE = 500
#: How long a room's delivery waits for a missing seq before skipping it, and
#: how often it looks in the store meanwhile (see RoomOrdering._wait_for_gap).
GAP_WAIT_SECONDS = 2.0
GAP_POLL_SECONDS = 0.02


class RoomOrdering:
    """Where each room's delivery stands here (its next seq), and what is held."""

    def __init__(
        self,
        *,
        store: Store,
        registry: SocketRegistry,
        subscribe: Callable[[str], Awaitable[None]],
        clock: Clock,
        gap_wait: float = GAP_WAIT_SECONDS,
        gap_poll: float = GAP_POLL_SECONDS,
    ) -> None:
        self._store = store
        self._registry = registry
        #: Subscribes this node to a room's channel (see start).
        self._subscribe = subscribe
        self._clock = clock
        self._gap_wait = gap_wait
        self._gap_poll = gap_poll
        self._next_seq: dict[str, int] = {}
        #: Rooms being started (see start): their events are held meanwhile.
        self._starting: set[str] = set()
        self._locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        #: Events that arrived ahead of a missing seq, by room then seq.
        self._held: dict[str, dict[int, bytes]] = defaultdict(dict)
        self._gap_waiters: dict[str, asyncio.Task[None]] = {}

    def next_seq(self, room_id: str) -> int | None:
        """The seq the room's next delivered event has; None while it starts here."""
        return self._next_seq.get(room_id)

    async def start(self, room_id: str, channel: str) -> None:
        """Subscribe to a room this node did not serve (on `channel`), and deliver
        every event after the store's last seq as read *before* subscribing,
        exactly once, in order.

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
        await self._subscribe(channel)
        async with self._locks[room_id]:
            self._starting.discard(room_id)
            if room_id in self._next_seq or not self._registry.serves(room_id):
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
        for conn in self._registry.members(room_id):
            if conn.live_from(room_id) is None:
                conn.set_live_from(room_id, start)

    def forget(self, room_id: str) -> None:
        """The room's last socket here left: a later first join starts it afresh."""
        self._next_seq.pop(room_id, None)
        self._held.pop(room_id, None)

    async def deliver(self, room_id: str, seq: int, data: bytes) -> None:
        """A stored event (from this node or over the broker), in its place in the room."""
        if not self._registry.members(room_id):
            return  # nobody here (e.g. a REST post): a later first join starts afresh
        async with self._locks[room_id]:
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

    async def catch_up(self) -> None:
        """After a broker outage: deliver from the store whatever was published meanwhile."""
        for room_id in self._registry.local_rooms():
            async with self._locks[room_id]:
                await self._fill_gap(room_id, None)

    async def stop(self) -> None:
        """Cancel the gap waits under way."""
        for task in list(self._gap_waiters.values()):
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task

    def _wait_if_held(self, room_id: str) -> None:
        """Events still held wait for the missing seq (see _wait_for_gap)."""
        if self._held.get(room_id) and room_id not in self._gap_waiters:
            self._gap_waiters[room_id] = asyncio.create_task(self._wait_for_gap(room_id))

    def _send_event(self, room_id: str, seq: int, data: bytes) -> None:
        self._next_seq[room_id] = seq + 1
        for conn in tuple(self._registry.members(room_id)):
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
        """Poll the store for a missing seq; after the gap wait, skip it.

        On MongoDB a seq is allocated (`$inc`) a moment before its event is
        inserted, so another node's later event can overtake it; it shows up
        within milliseconds. A node that crashed between the two never inserts
        it: that seq stays a gap, and waiting longer would only delay the room.
        """
        deadline = self._clock.monotonic() + self._gap_wait
        try:
            while self._held.get(room_id):
                await self._clock.sleep(self._gap_poll)
                async with self._locks[room_id]:
                    held = self._held.get(room_id)
                    if not held:
                        return
                    await self._fill_gap(room_id, min(held))
                    if self._clock.monotonic() > deadline:
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
