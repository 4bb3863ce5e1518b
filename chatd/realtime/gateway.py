"""GET /ws: the handshake (Origin, hello within 10 s), one reader loop, clean teardown.

A hello that cannot be served because a backend is down is answered with an
`error` frame `unavailable` (with `retryAfter`) and close code 1013, so the
client knows to wait and reconnect rather than see a bare dropped socket.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable
from contextlib import suppress
from dataclasses import replace
from urllib.parse import urlsplit

from aiohttp import WSCloseCode, WSMsgType, web
from aiohttp.typedefs import Handler, Middleware
from marshmallow import ValidationError

from chatd.api.auth import client_address
from chatd.auth.tokens import InvalidToken
from chatd.domain.readstate import room_infos
from chatd.errors import Unavailable
from chatd.fanout.connection import (
    CLOSE_TOO_MANY_SOCKETS,
    CLOSE_TRY_AGAIN_LATER,
    CLOSE_UNAUTHORIZED,
    Connection,
)
from chatd.fanout.replay import replay_room
from chatd.handlers.resume import load_resume_map
from chatd.keys import (
    AUTH,
    HELLO_TIMEOUT,
    HUB,
    OUTAGES,
    ROUTER,
    SETTINGS,
    SOCKET_CAPS,
    SOCKET_CLOCK,
    SOCKET_EVENTS,
    STORE,
    STORE_EPOCH,
)
from chatd.models import AccessClaims, User
from chatd.observability.logs import request_id_var, user_id_var
from chatd.realtime.socket_caps import RETRY_AFTER_SECONDS
from chatd.util.clock import new_id
from chatd.util.jsonutil import JSONDecodeError, loads
from chatd.web.errors import error_response
from chatd.web.observe import request_id_of
from chatd.wire import frames

logger = logging.getLogger(__name__)

#: The contract gives a client 10 s to say hello.
HELLO_TIMEOUT_SECONDS = 10.0
#: Largest accepted frame. A 4,000-char message is at most ~16 KB of UTF-8 and SDP
#: offers stay well under 64 KB; bigger frames close the socket with 1009.
MAX_FRAME_BYTES = 64 * 1024


WEBSOCKET_PATH = "/ws"

_CLOSED = (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED)


def outside_websockets(middleware: Middleware) -> Middleware:
    """Run `middleware` for every request but the WebSocket upgrade.

    aiohttp keeps a middleware's coroutine suspended for as long as the handler
    runs, which for /ws is the socket's whole life: ~0.3 KiB per idle socket and
    middleware. chatd's middlewares have nothing to do there (errors outside
    /api pass through the error middleware; a socket authenticates with `hello`,
    not a bearer header), so for /ws the handler's own coroutine is returned.
    """

    @web.middleware
    def dispatch(request: web.Request, handler: Handler) -> Awaitable[web.StreamResponse]:
        if request.path == WEBSOCKET_PATH:
            return handler(request)
        return middleware(request, handler)

    return dispatch


def _origin_allowed(request: web.Request) -> bool:
    """Same origin always; others only when listed in CHATD_ALLOWED_ORIGINS.

    A browser always sends Origin on a WebSocket handshake, so a page on another
    site cannot ride the user's session (cross-site WebSocket hijacking).
    Non-browser clients that send no Origin are let through: they hold a token.
    """
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    origin = origin.rstrip("/")
    if origin in request.app[SETTINGS].allowed_origins:
        return True
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and parts.netloc == request.host


class _HelloRefused(Exception):
    """A hello answered with an `error` frame, then a close code."""

    def __init__(self, frame: frames.Frame, close_code: int) -> None:
        super().__init__(frame["message"])
        self.frame = frame
        self.close_code = close_code


async def _refuse(ws: web.WebSocketResponse, refused: _HelloRefused) -> None:
    with suppress(Exception):
        await ws.send_json(refused.frame)
        await ws.close(code=refused.close_code, message=refused.frame["code"].encode())


async def _hello(
    ws: web.WebSocketResponse, request: web.Request
) -> tuple[User, AccessClaims, dict[str, int] | None]:
    """Read and check the first frame: its user, claims and `resume` map (if any).

    Raises PermissionError with the reason for a missing or bad token, and
    _HelloRefused for a malformed `resume`.
    """
    timeout = request.app[HELLO_TIMEOUT]
    deadline = time.monotonic() + timeout
    while True:
        try:
            # At least 1 ms: aiohttp reads a timeout of 0 as "no timeout".
            msg = await ws.receive(timeout=max(0.001, deadline - time.monotonic()))
        except TimeoutError:
            raise PermissionError(f"no hello within {timeout:g} s") from None
        if msg.type is WSMsgType.PING:
            await ws.pong(msg.data)
        elif msg.type is not WSMsgType.PONG:
            break
    if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
        raise PermissionError("closed before hello")
    try:
        frame = loads(msg.data)
    except JSONDecodeError:
        raise PermissionError("first frame must be hello") from None
    if not isinstance(frame, dict) or frame.get("type") != "hello":
        raise PermissionError("first frame must be hello")
    request.app[SOCKET_EVENTS].received("hello")  # the router sees the frames after it
    token = frame.get("token")
    if not isinstance(token, str) or not token:
        raise PermissionError("hello needs a token")
    try:
        user, claims = await request.app[AUTH].authenticate(token)
    except InvalidToken as exc:
        raise PermissionError(str(exc)) from None
    try:
        resume = None if frame.get("resume") is None else load_resume_map(frame["resume"])
    except ValidationError as exc:
        fields = exc.messages if isinstance(exc.messages, dict) else {"resume": exc.messages}
        invalid = frames.error("invalid", "hello's resume is invalid", fields=fields)
        raise _HelloRefused(invalid, WSCloseCode.POLICY_VIOLATION) from None
    epoch = frame.get("epoch")
    if epoch is not None and not isinstance(epoch, str):
        fields = {"epoch": ["Not a valid string."]}
        invalid = frames.error("invalid", "hello's epoch is invalid", fields=fields)
        raise _HelloRefused(invalid, WSCloseCode.POLICY_VIOLATION)
    if resume is not None and epoch is not None and epoch != request.app[STORE_EPOCH].value:
        # Seqs of another epoch (from before a restore) say nothing about this
        # store: replaying after them, or holding back live events up to them,
        # would drop messages. `ready` tells the client to start over.
        resume = {}
    return user, claims, resume


async def _connect(
    ws: web.WebSocketResponse, request: web.Request, conn_id: str, address: str
) -> tuple[Connection, dict[str, int] | None]:
    """The socket's Connection and hello's resume map once its hello checks out
    (else PermissionError or _HelloRefused)."""
    user, claims, resume = await _hello(ws, request)
    # A resume in hello reads the store as a `resume` frame does, so it counts
    # against the same limit (an empty one reads nothing); refused, the client
    # reconnects later.
    retry_after = request.app[ROUTER].spend(claims.user_id, "resume") if resume else 0.0
    if retry_after > 0:
        message = f"too many resumes; retry in {retry_after:.1f} s"
        limited = frames.error("rate_limited", message, retry_after=retry_after)
        raise _HelloRefused(limited, WSCloseCode.TRY_AGAIN_LATER)
    # A socket never needs the password hash: not keeping it saves ~0.1 KiB
    # per socket and keeps secrets out of long-lived state. The user id is the
    # token's own string, already held by the claims.
    user = replace(user, id=claims.user_id, password_hash="")
    events = request.app[SOCKET_EVENTS]
    return Connection(ws, user, claims, conn_id=conn_id, address=address, events=events), resume


def _too_many_sockets_here(address: str, limit: int) -> web.Response:
    """429 before the upgrade: this address already holds its share of sockets."""
    return error_response(
        429,
        "rate_limited",
        f"too many open sockets from {address} (at most {limit})",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


async def _refuse_user(ws: web.WebSocketResponse, limit: int) -> None:
    """After hello: the user already holds their share of sockets on every node."""
    with suppress(Exception):
        message = f"too many open sockets for this user (at most {limit}); close one"
        await ws.send_json(frames.error("rate_limited", message, retry_after=RETRY_AFTER_SECONDS))
        await ws.close(code=CLOSE_TOO_MANY_SOCKETS, message=b"too many sockets")


async def _welcome(app: web.Application, conn: Connection, resume: dict[str, int] | None) -> None:
    """`ready` with the user's rooms, then the socket starts receiving them.

    With hello's `resume` map, the rooms in it are held from the moment the
    socket joins them, replayed from the store, then released: no live event
    of such a room reaches the client before its replay, and none twice.
    Rooms the user is no longer in are left out (`ready` lists the rooms).
    """
    store, hub = app[STORE], app[HUB]
    rooms = await store.rooms_of(conn.user.id)
    resuming = {room.id: resume[room.id] for room in rooms if resume and room.id in resume}
    for room_id in resuming:
        conn.hold(room_id)
    infos = await room_infos(store, conn.user.id, rooms)
    epoch = app[STORE_EPOCH].value
    if epoch is None:  # rooms_of answered, so the store has connected by now
        epoch = app[STORE_EPOCH].value = await store.epoch()
    conn.send(frames.ready(conn.user, conn.id, infos, epoch))
    await hub.attach(conn)
    await hub.join_local_many(conn, [room.id for room in rooms])
    if resume is None:
        return
    caught_up = {}
    for room_id, last_seq in resuming.items():
        caught_up[room_id] = await replay_room(conn, store, room_id, last_seq)
    conn.send(frames.resumed(caught_up))


async def _try_again_later(
    ws: web.WebSocketResponse, app: web.Application, exc: Unavailable
) -> None:
    """Say which backend is down and when to retry, then close with 1013."""
    app[OUTAGES].note(exc, "hello")
    with suppress(Exception):
        await ws.send_json(frames.unavailable(exc))
        await ws.close(code=CLOSE_TRY_AGAIN_LATER, message=b"try again later")


async def _admit(
    ws: web.WebSocketResponse, request: web.Request, conn_id: str, address: str
) -> tuple[Connection, dict[str, int] | None] | None:
    """The socket's Connection and hello's resume map after a good hello within the
    user's socket cap, else None (the client was told why and the socket closed)."""
    events = request.app[SOCKET_EVENTS]
    try:
        conn, resume = await _connect(ws, request, conn_id, address)
    except PermissionError as exc:
        events.handshake_refused("unauthorized", str(exc), address)
        await _refuse(ws, _HelloRefused(frames.error("unauthorized", str(exc)), CLOSE_UNAUTHORIZED))
        return None
    except _HelloRefused as refused:
        events.handshake_refused(refused.frame["code"], refused.frame["message"], address)
        await _refuse(ws, refused)
        return None
    except Unavailable as exc:
        events.counts.refuse("handshake", "unavailable")
        await _try_again_later(ws, request.app, exc)
        return None
    caps = request.app[SOCKET_CAPS]
    if await caps.admit_user(conn_id, conn.user.id):
        user_id_var.set(conn.user.id)
        return conn, resume
    events.handshake_refused("rate_limited", "too many sockets for its user", address)
    await _refuse_user(ws, caps.per_user)
    return None


async def _open(request: web.Request) -> web.WebSocketResponse:
    """The upgrade: a WebSocket with chatd's options, its response headers dropped."""
    # No permessage-deflate: frames are encoded once per node and the same bytes
    # go to every member socket (connection.Connection._write); per-socket
    # compression would redo that work per recipient and hold a zlib context
    # (hundreds of KiB) per browser socket, for chat frames of a few hundred bytes.
    # No per-socket heartbeat or autoping: liveness.SocketClock pings quiet
    # sockets for the whole node, and the reader loop below answers pings and
    # notes every frame heard (a timer per socket cost ~0.7 KiB each).
    ws = web.WebSocketResponse(
        autoping=False,
        max_msg_size=MAX_FRAME_BYTES,
        decode_text=False,
        compress=False,
    )
    await ws.prepare(request)
    # prepare() has written the 101 response, security headers included, and
    # nothing reads these headers again; the socket would otherwise hold them
    # (~2 KiB of multidict entries) for as long as it stays open.
    ws.headers.clear()
    return ws


async def _turned_away(request: web.Request, conn_id: str, address: str) -> web.Response | None:
    """The refusal before the upgrade (an origin not allowed, too many sockets
    from the address), counted and logged; None to go on."""
    # Whatever this socket logs carries its handshake's request id (X-Request-Id)
    # and, once known, its user (_admit): the reader loop handles frames inline,
    # in the handler's context.
    request_id_var.set(request_id_of(request))
    events = request.app[SOCKET_EVENTS]
    if not _origin_allowed(request):
        origin = request.headers.get("Origin")
        events.handshake_refused("forbidden", f"origin {origin!r} not allowed", address)
        raise web.HTTPForbidden(reason="origin not allowed")
    caps = request.app[SOCKET_CAPS]
    if not await caps.admit_address(conn_id, address):
        events.handshake_refused("rate_limited", "too many sockets for its address", address)
        return _too_many_sockets_here(address, caps.per_address)
    return None


async def websocket(request: web.Request) -> web.StreamResponse:
    events, caps = request.app[SOCKET_EVENTS], request.app[SOCKET_CAPS]
    address, conn_id = client_address(request), new_id()
    refusal = await _turned_away(request, conn_id, address)
    if refusal is not None:
        return refusal
    user_id: str | None = None
    try:
        ws = await _open(request)
        admitted = await _admit(ws, request, conn_id, address)
        if admitted is None:
            return ws
        conn, resume = admitted
        del admitted
        user_id = conn.user.id
        # This frame lives as long as the socket, so it holds only what the reader
        # loop needs; the set-up's locals (the user's row, its rooms) die with the
        # helpers that used them.
        app = request.app
        hub, router, sockets = app[HUB], app[ROUTER], app[SOCKET_CLOCK]
        conn.start(request)
        sockets.watch(conn)
        events.metrics.sockets_open.inc()
        try:
            try:
                await _welcome(app, conn, resume)
            except Unavailable as exc:
                await _try_again_later(ws, app, exc)
                return ws
            del resume  # the reader loop below outlives it by the socket's whole life
            while True:
                # receive() itself rather than `async for`: the iterator's __anext__
                # would add one more suspended coroutine per idle socket (~0.1 KiB).
                msg = await ws.receive()
                if msg.type in _CLOSED:
                    break
                # Heard from the peer; -1 while handling its frame (busy, not dead).
                conn.silent_ticks = -1
                if msg.type == WSMsgType.TEXT:
                    await router.dispatch(conn, msg.data)
                elif msg.type == WSMsgType.PING:
                    await ws.pong(msg.data)
                elif msg.type == WSMsgType.BINARY:
                    conn.send(frames.error("invalid", "binary frames are not supported"))
                elif msg.type == WSMsgType.ERROR:
                    logger.info("socket %s error: %s", conn.id, ws.exception())
                    break
                conn.silent_ticks = 0
        finally:
            events.metrics.sockets_open.dec()
            sockets.unwatch(conn)
            try:
                await hub.detach(conn)  # runs to the end even if we are cancelled
            finally:
                await conn.flush_and_stop()
        return ws
    finally:
        # The socket stops counting against its address and user on every node,
        # even if this handler is being cancelled (else it counted until its TTL).
        await asyncio.shield(caps.release(conn_id, address, user_id))
