"""Node-wide timers for every socket: access-token expiry and heartbeat pings.

Each idle socket used to carry two timers of its own (aiohttp's heartbeat and a
token-expiry handle, ~1.5 KiB of TimerHandle, libuv timer and closure per
socket: scenario 4 of the benchmarks). Here one timer per node serves every
socket's expiry (sockets grouped by the second their token expires), and one
task pings the sockets that went quiet.

The heartbeat visits a tenth of the sockets every tenth of its interval, each
socket always in the same slot: one sweep of every socket at once pinged a
whole idle room in one loop iteration and then read all its pongs, a ~30 ms
stall per 1,000 sockets that any message fanned out meanwhile waited behind.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
from contextlib import suppress

from chatd.fanout.connection import CLOSE_UNAUTHORIZED, Connection
from chatd.util.clock import Clock, LoopClock, Timer
from chatd.wire import frames

logger = logging.getLogger(__name__)

#: A socket silent for one to two of these is pinged; one that then stays silent
#: for another is closed as dead (what aiohttp's `heartbeat=20` did per socket:
#: ping after 20 s of silence, dead without a pong within 10 s).
HEARTBEAT_INTERVAL_SECONDS = 10.0
#: Slots the heartbeat spreads the sockets over, one visited per interval / SLOTS.
HEARTBEAT_SLOTS = 10


class SocketClock:
    """Closes sockets whose access token expired and sockets whose peer is gone.

    The gateway watches a socket from `hello` until it closes and marks it
    heard (`Connection.silent_ticks = 0`) on every frame it reads.
    """

    def __init__(
        self,
        *,
        heartbeat: float = HEARTBEAT_INTERVAL_SECONDS,
        slots: int = HEARTBEAT_SLOTS,
        clock: Clock | None = None,
    ) -> None:
        self._heartbeat = heartbeat
        self._clock = clock or LoopClock()
        #: Watched sockets by heartbeat slot (`_slot`); slot k is swept at ticks
        #: k, k + slots, ..., i.e. once per heartbeat interval.
        self._slots: list[set[Connection]] = [set() for _ in range(slots)]
        self._tick = 0
        #: Sockets by the epoch second their token expires; a bucket lives until
        #: that second even when emptied, so each second is in `_seconds` once.
        self._buckets: dict[int, set[Connection]] = {}
        self._seconds: list[int] = []
        self._timer: Timer | None = None
        self._timer_at: int | None = None
        self._pinger: asyncio.Task[None] | None = None

    # -- token expiry -------------------------------------------------------------
    def watch(self, conn: Connection) -> None:
        """Heartbeat `conn` and close it when its current access token expires.

        Called again after `reauth`: the new expiry replaces the old one.
        """
        self.unwatch(conn)
        self._slot(conn).add(conn)
        at = conn.claims.expires_at
        bucket = self._buckets.get(at)
        if bucket is None:
            bucket = self._buckets[at] = set()
            heapq.heappush(self._seconds, at)
        bucket.add(conn)
        conn.expiry = at
        if self._timer_at is None or at < self._timer_at:
            self._arm()

    def unwatch(self, conn: Connection) -> None:
        self._slot(conn).discard(conn)
        at, conn.expiry = conn.expiry, None
        if at is not None:
            bucket = self._buckets.get(at)
            if bucket is not None:
                bucket.discard(conn)

    def _slot(self, conn: Connection) -> set[Connection]:
        # The id's hash: stable for the socket's life, so it is visited exactly
        # once per interval, and spread evenly without a field per socket.
        return self._slots[hash(conn.id) % len(self._slots)]

    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = self._timer_at = None
        if self._seconds:
            at = self._seconds[0]
            delay = max(0.0, at - self._clock.time())
            self._timer = self._clock.call_later(delay, self._expire_due)
            self._timer_at = at

    def _expire_due(self) -> None:
        self._timer = self._timer_at = None
        now = self._clock.time()
        try:
            while self._seconds and self._seconds[0] <= now:
                at = heapq.heappop(self._seconds)
                for conn in self._buckets.pop(at, ()):
                    conn.expiry = None
                    try:
                        conn.send(
                            frames.error(
                                "token_expired", "access token expired; reconnect with a new one"
                            )
                        )
                        conn.close_soon(CLOSE_UNAUTHORIZED, "token expired")
                    except Exception:
                        # One socket's failure must not spare the others due now.
                        logger.exception("expiring %s failed", conn.id)
        finally:
            # Re-armed whatever happened: a clock that stopped would leave every
            # later token open past its expiry.
            self._arm()

    # -- heartbeat ------------------------------------------------------------------
    def start(self) -> None:
        self._pinger = asyncio.create_task(self._ping_forever(), name="socket-heartbeat")

    async def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = self._timer_at = None
        if self._pinger is not None:
            self._pinger.cancel()
            with suppress(asyncio.CancelledError):
                await self._pinger
            self._pinger = None

    async def _ping_forever(self) -> None:
        step = self._heartbeat / len(self._slots)
        while True:
            await self._clock.sleep(step)
            try:
                self.sweep_next_slot()
            except Exception:
                logger.exception("socket heartbeat failed")

    def sweep_next_slot(self) -> None:
        """One heartbeat tick over one slot: count silence, ping the quiet, drop the dead.

        `silent_ticks` counts the slot's visits (one per interval) without a
        frame from the peer: 0 after any frame (pongs included), -1 while the
        gateway is handling one (a slow handler is not a dead peer).
        """
        slot = self._slots[self._tick % len(self._slots)]
        self._tick += 1
        # A copy: aborting a socket lets its gateway unwatch it meanwhile.
        for conn in list(slot):
            ticks = conn.silent_ticks
            if ticks < 0 or conn.closing:
                continue
            if ticks == 1:
                conn.ping()
            elif ticks >= 2:
                logger.info("closing %s (%s): no pong", conn.id, conn.user.username)
                conn.abort()
                continue
            conn.silent_ticks = ticks + 1
