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
from contextlib import suppress
from dataclasses import dataclass

from aiohttp import WSCloseCode, web
from aiohttp.base_protocol import BaseProtocol

from chatd._compat import wait_until_writable
from chatd.auth.tokens import AccessClaims
from chatd.clock import new_id
from chatd.jsonutil import dumpb
from chatd.store import User

logger = logging.getLogger(__name__)

#: Frames buffered per socket. Large enough to absorb a burst in a busy room
#: (or a resume replay page), small enough that a stuck client costs < ~1 MB.
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
    ) -> None:
        self.id = conn_id or new_id()
        #: The client's address, under which the socket is counted (socket_caps).
        self.address = address
        self.ws = ws
        self.user = user
        self.claims = claims
        #: The rooms this socket receives (frozen and shared while there are none:
        #: an idle socket's empty set and dict cost ~0.3 KiB; see join_room).
        self.rooms: set[str] | frozenset[str] = _NO_ROOMS
        #: Rooms being replayed by `resume`: live events wait here so the client
        #: sees each event once, in seq order (None while no replay runs).
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

    def join_room(self, room_id: str) -> None:
        if isinstance(self.rooms, frozenset):
            self.rooms = set()
        self.rooms.add(room_id)

    def leave_room(self, room_id: str) -> None:
        if isinstance(self.rooms, set):
            self.rooms.discard(room_id)

    def hold(self, room_id: str) -> None:
        """Queue the room's live events from now on (a resume replays it meanwhile)."""
        if self.held is None:
            self.held = {}
        self.held[room_id] = []

    def release(self, room_id: str) -> list[tuple[int, bytes]]:
        """Stop holding the room's live events; return what was held, in arrival order."""
        if self.held is None:
            return []
        held = self.held.pop(room_id, [])
        if not self.held:
            self.held = None
        return held

    def send(self, frame: dict[str, object]) -> None:
        self.send_raw(dumpb(frame))

    def send_raw(self, data: bytes) -> None:
        """Send already-encoded frame bytes (shared by every local recipient); never blocks."""
        if self.closing:
            return
        queue = self._queue
        if queue is None:
            if not self._paused():
                self._write(data)
                return
            queue = self._start_queue()
        if len(queue) >= SEND_QUEUE_FRAMES:
            logger.warning("closing slow consumer %s (%s)", self.id, self.user.username)
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
        held = None if self.held is None else self.held.get(room_id)
        if held is not None:
            held.append((seq, data))
        else:
            self.send_raw(data)

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
_NO_ROOMS: frozenset[str] = frozenset()
_HEADER_16 = struct.Struct("!BBH")
_HEADER_64 = struct.Struct("!BBQ")


@dataclass(frozen=True, slots=True)
class _Close:
    code: int
    reason: str


GOING_AWAY = WSCloseCode.GOING_AWAY
