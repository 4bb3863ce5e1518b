"""One client WebSocket: its identity, its rooms, and its bounded send queue.

Only the gateway's reader loop reads the socket; everything else sends through
`send()`, which never blocks: a client that stops reading fills the transport's
buffer, then a bounded queue, and is closed as a slow consumer instead of
delaying anyone else (it resumes later and loses nothing, since every room
event is in the store).
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections import deque
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass
from types import MappingProxyType

from aiohttp import WSCloseCode, web
from aiohttp.base_protocol import BaseProtocol

from chatd._compat import wait_until_writable
from chatd.models import AccessClaims, User
from chatd.observability.metrics import Metrics
from chatd.observability.sockets import SocketEvents
from chatd.util.clock import new_id
from chatd.util.jsonutil import dumpb

logger = logging.getLogger(__name__)

#: Frames buffered per socket (queued, or held per room during a replay). Large
#: enough to absorb a burst in a busy room (or a resume replay page), small enough
#: that a stuck client costs < ~1 MB per room.
SEND_QUEUE_FRAMES = 1024
#: Close codes chatd uses beyond the standard ones (documented in docs/protocol.md).
CLOSE_UNAUTHORIZED = 4001
#: A backend the socket needs (store, broker) is down: the standard "try again later".
CLOSE_TRY_AGAIN_LATER = 1013
CLOSE_SLOW_CONSUMER = 4008
CLOSE_TOO_MANY_SOCKETS = 4029


class Connection:
    """A connected, authenticated client socket.

    Frames are written straight to the transport while it accepts them; only
    when the kernel and transport buffers are full (the transport paused
    writing) does the connection grow a queue and a writer task, which drain it
    and go away again. An idle or keeping-up socket therefore costs no task and
    no queue (scenario 4 of the benchmarks), and a frame costs no task switch.
    """

    __slots__ = (
        "_closer",
        "_protocol",
        "_queue",
        "_room_waiter",
        "_transport",
        "_writer",
        "address",
        "claims",
        "closing",
        "events",
        "expiry",
        "held",
        "id",
        "rooms",
        "silent_ticks",
        "user",
        "ws",
    )

    def __init__(
        self,
        ws: web.WebSocketResponse,
        user: User,
        claims: AccessClaims,
        *,
        conn_id: str | None = None,
        address: str = "",
        events: SocketEvents | None = None,
    ) -> None:
        self.id = conn_id or new_id()
        #: The app's counters and rate-limited lines (shared by all its sockets);
        #: a connection built on its own (a test) counts into a registry of its own.
        self.events = events or SocketEvents(Metrics(), logger)
        #: The client's address, under which the socket is counted (socket_caps).
        self.address = address
        self.ws = ws
        self.user = user
        self.claims = claims
        #: The rooms this socket receives, each with the lowest seq from which the
        #: socket has been (or will be) sent every room event: the first seq the
        #: hub delivered after it joined, lowered by a replay (chatd.replay);
        #: None until known. A replay stops below it, so nothing goes out twice.
        #: The ints are the hub's own objects, shared by every socket that joined
        #: at the same point. Read-only and shared while there are none (an idle
        #: socket's empty dict costs ~0.1 KiB; see join_room).
        self.rooms: dict[str, int | None] | Mapping[str, int | None] = _NO_ROOMS
        #: Rooms being replayed (resume, hello.resume): live events wait here so
        #: the replay's older events go first (None while no replay runs).
        self.held: dict[str, list[tuple[int, bytes]]] | None = None
        # Frames waiting for a paused transport (None while writing directly).
        # bytes: a frame to send; _Close: close after what is queued before it.
        self._queue: deque[bytes | _Close] | None = None
        self._writer: asyncio.Task[None] | None = None
        #: Resolved when the queue has room again (for send_waiting).
        self._room_waiter: asyncio.Future[None] | None = None
        self.closing = False
        self._closer: asyncio.Task[None] | None = None
        #: The expiry second under which liveness.SocketClock files this socket.
        self.expiry: int | None = None
        #: Heartbeat ticks without a frame from the peer (see liveness.SocketClock).
        self.silent_ticks = 0
        self._transport: asyncio.Transport | None = None
        self._protocol: BaseProtocol | None = None

    def start(self, request: web.Request) -> None:
        """Bind the socket's transport (after the handshake) for direct writes."""
        self._transport = request.transport
        protocol = request.protocol
        self._protocol = protocol if isinstance(protocol, BaseProtocol) else None

    def join_room(self, room_id: str, live_from: int | None) -> None:
        """Receive the room from now on; `live_from`: the hub's next seq, if it knows it."""
        rooms = self.rooms
        if not isinstance(rooms, dict):
            rooms = self.rooms = {}
        rooms[room_id] = live_from

    def leave_room(self, room_id: str) -> None:
        if isinstance(self.rooms, dict):
            self.rooms.pop(room_id, None)

    def live_from(self, room_id: str) -> int | None:
        """The lowest seq from which this socket gets every event of the room (None: unknown)."""
        return self.rooms.get(room_id)

    def set_live_from(self, room_id: str, seq: int) -> None:
        """Record where the room's contiguous run of sent events starts (if still a member)."""
        rooms = self.rooms
        if isinstance(rooms, dict) and room_id in rooms:
            rooms[room_id] = seq

    def hold(self, room_id: str) -> None:
        """Queue the room's live events from now on (a replay runs meanwhile); idempotent."""
        if self.held is None:
            self.held = {}
        self.held.setdefault(room_id, [])

    def release(self, room_id: str) -> list[tuple[int, bytes]]:
        """Stop holding the room's live events; return what was held, in arrival order."""
        if self.held is None:
            return []
        held = self.held.pop(room_id, [])
        if not self.held:
            self.held = None
        return held

    def send(self, frame: dict[str, object]) -> None:
        """Send a frame built for this socket alone (counted by its type)."""
        if self.closing:
            return
        self.events.sent(frame)
        self._send(dumpb(frame))

    def send_raw(self, data: bytes) -> None:
        """Send already-encoded frame bytes (shared by every local recipient); never blocks."""
        if self.closing:
            return
        self.events.counts.fanout += 1
        self._send(data)

    def _send(self, data: bytes) -> None:
        queue = self._queue
        if queue is None:
            if not self._paused():
                self._write(data)
                return
            queue = self._start_queue()
        if len(queue) >= SEND_QUEUE_FRAMES:
            self.events.slow_consumer(self.id, self.user.username, "")
            self.close_soon(CLOSE_SLOW_CONSUMER, "slow consumer: reconnect and resume")
            return
        queue.append(data)

    async def send_waiting(self, data: bytes) -> None:
        """Send bytes, waiting for room instead of failing (bulk replays pace themselves)."""
        while (
            not self.closing and self._queue is not None and (len(self._queue) >= SEND_QUEUE_FRAMES)
        ):
            if self._room_waiter is None or self._room_waiter.done():
                self._room_waiter = asyncio.get_running_loop().create_future()
            await asyncio.shield(self._room_waiter)
        self.send_raw(data)

    def send_room_event(self, room_id: str, seq: int, data: bytes) -> None:
        """A room event from the hub, which delivers each room in seq order."""
        live_from = self.rooms.get(room_id)
        if live_from is None:
            self.set_live_from(room_id, seq)
        elif seq < live_from:
            return  # a replay already sent it (see chatd.replay)
        held = None if self.held is None else self.held.get(room_id)
        if held is None:
            self.send_raw(data)
        elif len(held) < SEND_QUEUE_FRAMES:
            held.append((seq, data))
        else:
            # The replay before these is not getting through (a client that does
            # not read): held events count against the socket like queued ones.
            self.events.slow_consumer(self.id, self.user.username, " in replay")
            self.close_soon(CLOSE_SLOW_CONSUMER, "slow consumer: reconnect and resume")

    def close_soon(self, code: int, reason: str) -> None:
        """Close after the frames already sent or queued (e.g. the error that says why).

        A full queue means the client is not reading: then the socket is closed
        at once instead, from a task of its own.
        """
        if self.closing:
            return
        self.closing = True
        queue = self._queue
        if queue is not None and len(queue) < SEND_QUEUE_FRAMES:
            queue.append(_Close(code, reason))
        else:
            self._closer = asyncio.create_task(self._close(code, reason))

    async def _close(self, code: int, reason: str) -> None:
        with suppress(Exception):
            await self.ws.close(code=code, message=reason.encode())

    def ping(self) -> None:
        """An empty WebSocket ping (RFC 6455 5.5.2); a control frame may pass queued frames."""
        transport = self._transport
        if transport is not None and not transport.is_closing() and not self.ws.closed:
            transport.write(_PING)

    def abort(self) -> None:
        """Drop a dead peer's connection; the reader loop then ends and tears down."""
        self.closing = True
        if self._transport is not None:
            self._transport.abort()

    # -- writing ---------------------------------------------------------------------
    def _paused(self) -> bool:
        protocol = self._protocol
        return protocol is not None and protocol.writing_paused

    def _write(self, data: bytes) -> None:
        """One unmasked, uncompressed text frame (RFC 6455 5.2) onto the transport."""
        transport = self._transport
        if transport is None or transport.is_closing() or self.ws.closed:
            return
        size = len(data)
        if size < 126:
            header = bytes((0x81, size))
        elif size < 65536:
            header = _HEADER_16.pack(0x81, 126, size)
        else:
            header = _HEADER_64.pack(0x81, 127, size)
        transport.write(header + data)

    def _start_queue(self) -> deque[bytes | _Close]:
        queue: deque[bytes | _Close] = deque()
        self._queue = queue
        self._writer = asyncio.create_task(self._write_loop(queue), name=f"ws-writer-{self.id}")
        return queue

    async def _write_loop(self, queue: deque[bytes | _Close]) -> None:
        """Drain the queue as the transport accepts data, then hand back to direct writes."""
        protocol = self._protocol
        try:
            while queue:
                if protocol is not None and protocol.writing_paused:
                    await wait_until_writable(protocol)
                    continue
                item = queue.popleft()
                waiter = self._room_waiter
                if waiter is not None and not waiter.done():
                    waiter.set_result(None)
                if isinstance(item, _Close):
                    queue.clear()
                    await self._close(item.code, item.reason)
                    return
                self._write(item)
        except (ConnectionError, RuntimeError) as exc:
            logger.debug("writer of %s stopped: %s", self.id, exc)
            queue.clear()
        finally:
            if self._queue is queue:
                self._queue = None
                self._writer = None
            waiter = self._room_waiter
            if waiter is not None and not waiter.done():
                waiter.set_result(None)

    async def flush_and_stop(self) -> None:
        """Let queued frames go out (used on orderly close), then stop the writer."""
        writer = self._writer
        if writer is None:
            return
        if not self.closing:
            with suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(writer), 1.0)
        writer.cancel()
        with suppress(asyncio.CancelledError):
            await writer


_PING = bytes((0x89, 0))
_NO_ROOMS: Mapping[str, int | None] = MappingProxyType({})
_HEADER_16 = struct.Struct("!BBH")
_HEADER_64 = struct.Struct("!BBQ")


@dataclass(frozen=True, slots=True)
class _Close:
    code: int
    reason: str


GOING_AWAY = WSCloseCode.GOING_AWAY
