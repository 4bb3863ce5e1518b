"""One client WebSocket: its identity, its rooms, and its bounded send queue.

Only the gateway's reader loop reads the socket; everything else sends through
`send()`, which never blocks: a client that stops reading fills its queue and
is closed as a slow consumer instead of delaying anyone else (it resumes later
and loses nothing, since every room event is in the store).
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress
from dataclasses import dataclass

from aiohttp import WSCloseCode, WSMsgType, web

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
CLOSE_SLOW_CONSUMER = 4008


class Connection:
    """A connected, authenticated client socket."""

    def __init__(self, ws: web.WebSocketResponse, user: User, claims: AccessClaims) -> None:
        self.id = new_id()
        self.ws = ws
        self.user = user
        self.claims = claims
        self.rooms: set[str] = set()
        #: Rooms being replayed by `resume`: live events wait here so the client
        #: sees each event once, in seq order.
        self.held: dict[str, list[tuple[int, bytes]]] = {}
        # bytes: a frame to send; _Close: close after what is queued before it.
        self._queue: asyncio.Queue[bytes | _Close | None] = asyncio.Queue(SEND_QUEUE_FRAMES)
        self._writer: asyncio.Task[None] | None = None
        self.closing = False
        self._closer: asyncio.Task[None] | None = None
        #: Fires when the access token expires (see gateway.arm_expiry).
        self.expiry: asyncio.TimerHandle | None = None

    def start(self) -> None:
        self._writer = asyncio.create_task(self._write_loop(), name=f"ws-writer-{self.id}")

    def send(self, frame: dict[str, object]) -> None:
        self.send_raw(dumpb(frame))

    def send_raw(self, data: bytes) -> None:
        """Queue already-encoded frame bytes (shared by every local recipient)."""
        if self.closing:
            return
        try:
            self._queue.put_nowait(data)
        except asyncio.QueueFull:
            logger.warning("closing slow consumer %s (%s)", self.id, self.user.username)
            self.close_soon(CLOSE_SLOW_CONSUMER, "slow consumer: reconnect and resume")

    async def send_waiting(self, data: bytes) -> None:
        """Queue bytes, waiting for room instead of failing (bulk replays pace themselves)."""
        if not self.closing:
            await self._queue.put(data)

    def send_room_event(self, room_id: str, seq: int, data: bytes) -> None:
        held = self.held.get(room_id)
        if held is not None:
            held.append((seq, data))
        else:
            self.send_raw(data)

    def close_soon(self, code: int, reason: str) -> None:
        """Close after the frames already queued (e.g. the error that says why).

        A full queue means the writer is stuck on this very client: then the
        socket is closed at once instead, from its own task.
        """
        if self.closing:
            return
        self.closing = True
        try:
            self._queue.put_nowait(_Close(code, reason))
        except asyncio.QueueFull:
            self._closer = asyncio.create_task(self._close(code, reason))

    async def _close(self, code: int, reason: str) -> None:
        with suppress(Exception):
            await self.ws.close(code=code, message=reason.encode())

    async def _write_loop(self) -> None:
        try:
            while True:
                data = await self._queue.get()
                if data is None or self.ws.closed:
                    return
                if isinstance(data, _Close):
                    await self._close(data.code, data.reason)
                    return
                await self.ws.send_frame(data, WSMsgType.TEXT)
        except (ConnectionResetError, RuntimeError) as exc:
            logger.debug("writer of %s stopped: %s", self.id, exc)

    async def flush_and_stop(self) -> None:
        """Let queued frames go out (used on orderly close), then stop the writer."""
        if self._writer is None:
            return
        if not self.closing:
            with suppress(asyncio.QueueFull):
                self._queue.put_nowait(None)
            with suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(self._writer), 1.0)
        self._writer.cancel()
        with suppress(asyncio.CancelledError):
            await self._writer


@dataclass(frozen=True, slots=True)
class _Close:
    code: int
    reason: str


GOING_AWAY = WSCloseCode.GOING_AWAY
