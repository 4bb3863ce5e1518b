"""The peer: the same room chat as chatd, on python-socketio with Redis.

`socketio.AsyncServer(async_mode="aiohttp")` with `AsyncRedisManager`, WebSocket
transport only. Behaviour, matched to chatd's contract where it costs the server:
- connect: the `auth` dict carries `token`, an HS256 JWT checked with PyJWT
  (signature, exp, iss="chatd", aud="chatd"), the same check class as chatd's
  `hello`. A bad token refuses the connection.
- `join {room}`: enter the room.
- `message {room, text, nonce}`: only from a member; the server assigns the room's
  next `seq`, builds `{type, room, id, seq, user, text, ts, messageType, nonce}`,
  emits it to the room through the Redis manager and acks `{id, seq}`.

Differences that favour the peer (so chatd's margin is conservative): it stores
nothing, and with `--seq memory` (default) the per-room seq is an in-process
counter, gapless only within one process. `--seq redis` uses INCR on Redis so seq
stays gapless across nodes and restarts (scenarios 2 and 5 use that).

Run: python -m bench.peer_socketio --port 9000 --redis-url redis://127.0.0.1:6379/0 \
     --secret <32+ bytes>
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import logging
import os
import signal
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import jwt
import orjson
import redis.asyncio as aioredis
import socketio
from aiohttp import web

try:
    import uvloop

    UVLOOP: Callable[[], asyncio.AbstractEventLoop] | None = uvloop.new_event_loop
except ImportError:  # optional: the default loop works too, a little slower
    UVLOOP = None

log = logging.getLogger("peer")
SIO_KEY = web.AppKey("sio", socketio.AsyncServer)


class _OrjsonShim:
    """python-socketio's `json=` hook wants a module-like object with str dumps/loads."""

    def dumps(self, obj: Any, **_: Any) -> str:
        return orjson.dumps(obj).decode()

    def loads(self, s: str | bytes, **_: Any) -> Any:
        return orjson.loads(s)


class SeqAllocator:
    """Per-room sequence numbers: in-process counter or Redis INCR."""

    def __init__(self, mode: str, redis_url: str) -> None:
        self.mode = mode
        self._counters: dict[str, itertools.count[int]] = defaultdict(lambda: itertools.count(1))
        self._redis: Any = None
        if mode == "redis":
            self._redis = aioredis.from_url(redis_url)

    async def next(self, room: str) -> int:
        if self._redis is not None:
            return int(await self._redis.incr(f"peer:seq:{room}"))
        return next(self._counters[room])


def build_app(redis_url: str, secret: str, seq_mode: str, use_orjson: bool) -> web.Application:
    manager = socketio.AsyncRedisManager(redis_url)
    sio = socketio.AsyncServer(
        async_mode="aiohttp",
        client_manager=manager,
        transports=["websocket"],
        json=_OrjsonShim() if use_orjson else json,
        cors_allowed_origins=[],
    )
    seqs = SeqAllocator(seq_mode, redis_url)
    ids = itertools.count(1)
    node = os.urandom(3).hex()
    # sid -> (user id, username): kept in a dict instead of the socketio session to
    # avoid a session copy per message; chatd keeps user info on the connection too.
    users: dict[str, tuple[str, str]] = {}

    async def connect(sid: str, environ: dict[str, Any], auth: Any) -> None:
        token = auth.get("token") if isinstance(auth, dict) else None
        if not isinstance(token, str):
            raise socketio.exceptions.ConnectionRefusedError("unauthorized")
        try:
            claims = jwt.decode(token, secret, algorithms=["HS256"], audience="chatd",
                                issuer="chatd", options={"require": ["sub", "exp"]})
        except jwt.PyJWTError as exc:
            raise socketio.exceptions.ConnectionRefusedError("unauthorized") from exc
        sub = str(claims["sub"])
        users[sid] = (sub, str(claims.get("name", sub)))

    async def disconnect(sid: str, *args: Any) -> None:
        users.pop(sid, None)

    async def join(sid: str, data: Any) -> dict[str, Any]:
        room = data.get("room") if isinstance(data, dict) else None
        if not isinstance(room, str) or not room:
            return {"error": "invalid"}
        await sio.enter_room(sid, room)
        return {"ok": True, "room": room}

    async def leave(sid: str, data: Any) -> dict[str, Any]:
        room = data.get("room") if isinstance(data, dict) else None
        if isinstance(room, str):
            await sio.leave_room(sid, room)
        return {"ok": True}

    async def message(sid: str, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            return {"error": "invalid"}
        room, text = data.get("room"), data.get("text")
        if not isinstance(room, str) or not isinstance(text, str):
            return {"error": "invalid"}
        if room not in sio.rooms(sid):
            return {"error": "not_member"}
        user = users.get(sid)
        if user is None:
            return {"error": "unauthorized"}
        seq = await seqs.next(room)
        msg_id = f"{node}-{next(ids)}"
        event = {
            "type": "message", "room": room, "id": msg_id, "seq": seq,
            "user": {"id": user[0], "username": user[1]}, "text": text,
            "ts": time.time_ns() // 1_000_000, "messageType": "text",
            "nonce": data.get("nonce"),
        }
        await sio.emit("message", event, room=room)
        return {"id": msg_id, "seq": seq}

    # Registered explicitly (not with @sio.event) so the handlers keep their types.
    for handler in (connect, disconnect, join, leave, message):
        sio.on(handler.__name__, handler)

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    sio.attach(app)
    app[SIO_KEY] = sio
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL",
                                                              "redis://127.0.0.1:6379/0"))
    parser.add_argument("--secret", default=os.environ.get("CHATD_SECRET_KEY", ""))
    parser.add_argument("--seq", choices=("memory", "redis"), default="memory")
    parser.add_argument("--no-uvloop", action="store_true",
                        help="plain asyncio loop (default: uvloop when installed)")
    parser.add_argument("--no-orjson", action="store_true",
                        help="stdlib json (default: orjson, as chatd may use)")
    args = parser.parse_args()
    if len(args.secret.encode()) < 32:
        parser.error("--secret (or CHATD_SECRET_KEY) must be at least 32 bytes")
    logging.basicConfig(level=logging.WARNING)
    loop_factory = None if args.no_uvloop else UVLOOP
    app = build_app(args.redis_url, args.secret, args.seq, not args.no_orjson)
    # Listen backlog sized for connection storms (aiohttp's default is 128).
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(_serve(app, args.host, args.port))


async def _serve(app: web.Application, host: str, port: int) -> None:
    # A client that never answers the close would hold shutdown for aiohttp's default
    # 60 s; 2 s bounds a restart the way a deploy's stop timeout would.
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=2)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=4096)
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    # Like chatd's SIGTERM contract: stop accepting, disconnect every client, exit.
    # Without the explicit shutdown aiohttp waits for each open WebSocket handler.
    await site.stop()
    sio = app[SIO_KEY]
    if sio.eio.sockets:
        # Engine.IO close to every client (engineio: sid=None means all).
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(sio.eio.disconnect(), 2)
    await sio.shutdown()
    await runner.cleanup()


if __name__ == "__main__":
    main()
