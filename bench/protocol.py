"""Wire protocols the generator speaks: chatd's contract and Socket.IO v5 over WebSocket.

Both adapters sit on the same aiohttp WebSocket client, and both parse frames with
orjson, so the generator spends the same effort per frame whichever server it
measures. For Socket.IO that means a lean client (Engine.IO v4 framing, no polling,
no upgrade) instead of `socketio.AsyncClient`, whose per-connection tasks and
session would make the generator, not the server, the thing being measured. The
runner still checks once per run that the official client can talk to the peer.
"""

from __future__ import annotations

import abc
import asyncio
from typing import Any, Protocol

import orjson
from aiohttp import ClientWebSocketResponse, WSMsgType

loads = orjson.loads

#: Returned by `Wire.parse` when the server asked the client to close the transport.
CLOSE = "\x00close"


def dumps(obj: Any) -> str:
    return orjson.dumps(obj).decode()


class HandshakeError(Exception):
    """The server refused or never finished the authentication handshake."""


class Sink(Protocol):
    """What a protocol reports parsed frames to (the worker's client state)."""

    def on_message(self, room: str, seq: int, text: str) -> None: ...

    def on_ack(self, ref: int, seq: int | None) -> None: ...

    def on_error(self, ref: int | None, code: str) -> None: ...


async def _recv_text(ws: ClientWebSocketResponse, wait_s: float) -> str:
    msg = await ws.receive(timeout=wait_s)
    if msg.type == WSMsgType.TEXT:
        return str(msg.data)
    raise HandshakeError(f"connection ended during handshake ({msg.type.name} {msg.data!r})")


class Wire(abc.ABC):
    name: str
    #: True when the server can replay missed room events after a reconnect.
    supports_resume: bool

    @abc.abstractmethod
    def ws_path(self) -> str: ...

    @abc.abstractmethod
    async def handshake(self, ws: ClientWebSocketResponse, token: str, wait_s: float,
                        resume: dict[str, int] | None = None) -> None:
        """Authenticate a freshly opened socket; raise HandshakeError on refusal.

        `resume` ({room: last seq held}, only where `supports_resume`): replay what
        was missed since, before any live event of those rooms.
        """

    @abc.abstractmethod
    def join_frame(self, room: str) -> str: ...

    @abc.abstractmethod
    def message_frame(self, room: str, text: str, ref: int, nonce: str) -> str: ...

    def goodbye_frame(self) -> str | None:
        """What to send before closing when the server asked to close (see CLOSE)."""
        return None

    @abc.abstractmethod
    def parse(self, data: str, sink: Sink) -> str | None:
        """Dispatch one server frame to `sink`; return a frame to send back, if any,
        or CLOSE when the client should close the connection."""


class ChatdWire(Wire):
    """chatd: hello/ready (resuming in hello), join, message/ack (docs/protocol.md)."""

    name = "chatd"
    supports_resume = True

    def ws_path(self) -> str:
        return "/ws"

    async def handshake(self, ws: ClientWebSocketResponse, token: str, wait_s: float,
                        resume: dict[str, int] | None = None) -> None:
        hello: dict[str, Any] = {"type": "hello", "token": token}
        if resume is not None:
            # In hello rather than a `resume` frame after `ready`: the server holds
            # the rooms' live events until their replay is done, so none arrives
            # twice or ahead of an older one.
            hello["resume"] = resume
        await ws.send_str(dumps(hello))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        while True:
            frame = loads(await _recv_text(ws, max(0.01, deadline - loop.time())))
            kind = frame.get("type")
            if kind == "ready":
                return
            if kind == "error":
                raise HandshakeError(f"chatd refused hello: {frame.get('code')}")
            # Anything else before `ready` (presence, say) is not ours to judge.

    def join_frame(self, room: str) -> str:
        return dumps({"type": "join", "room": room})

    def message_frame(self, room: str, text: str, ref: int, nonce: str) -> str:
        return dumps({"type": "message", "room": room, "text": text, "nonce": nonce,
                      "ref": str(ref)})

    def parse(self, data: str, sink: Sink) -> str | None:
        frame = loads(data)
        kind = frame.get("type")
        if kind == "message":
            sink.on_message(frame["room"], frame["seq"], frame.get("text") or "")
        elif kind == "ack":
            ref = _int_ref(frame.get("ref"))
            if ref is not None:
                sink.on_ack(ref, frame.get("seq"))
        elif kind == "error":
            sink.on_error(_int_ref(frame.get("ref")), str(frame.get("code")))
        return None


def _int_ref(ref: object) -> int | None:
    if isinstance(ref, int):
        return ref
    if isinstance(ref, str) and ref.isdigit():
        return int(ref)
    return None


class SocketIOWire(Wire):
    """Socket.IO protocol v5 on Engine.IO v4, WebSocket transport only, namespace "/".

    Frames: Engine.IO `0{open}`, `2` ping -> `3` pong, `4` message; inside a message,
    Socket.IO `0` connect (auth payload), `2` event, `3` ack, `4` connect error.
    Room chat events are the peer's (bench/peer_socketio.py): `join`, `message`.
    """

    name = "socketio"
    supports_resume = False

    def ws_path(self) -> str:
        return "/socket.io/?EIO=4&transport=websocket"

    async def handshake(self, ws: ClientWebSocketResponse, token: str, wait_s: float,
                        resume: dict[str, int] | None = None) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        first = await _recv_text(ws, wait_s)
        if not first.startswith("0"):
            raise HandshakeError(f"expected Engine.IO open packet, got {first[:60]!r}")
        await ws.send_str("40" + dumps({"token": token}))
        while True:
            data = await _recv_text(ws, max(0.01, deadline - loop.time()))
            if data.startswith("40"):
                return
            if data.startswith("44"):
                raise HandshakeError(f"peer refused connect: {data[2:200]}")
            if data == "2":
                await ws.send_str("3")

    def join_frame(self, room: str) -> str:
        return "42" + dumps(["join", {"room": room}])

    def message_frame(self, room: str, text: str, ref: int, nonce: str) -> str:
        # `42<ack id>[...]` asks the peer to answer with `43<ack id>[...]`.
        return f"42{ref}" + dumps(["message", {"room": room, "text": text, "nonce": nonce}])

    def goodbye_frame(self) -> str | None:
        # Answering the server's Engine.IO close with our own lets it end the session
        # at once, as python-engineio's client does; otherwise it waits for a timeout.
        return "1"

    def parse(self, data: str, sink: Sink) -> str | None:
        if data.startswith("42"):
            event = loads(data[2:])
            if event[0] == "message":
                body = event[1]
                sink.on_message(body["room"], body["seq"], body.get("text") or "")
        elif data.startswith("43"):
            cut = data.index("[")
            ref = int(data[2:cut])
            reply = loads(data[cut:])[0]
            if "error" in reply:
                sink.on_error(ref, str(reply["error"]))
            else:
                sink.on_ack(ref, reply.get("seq"))
        elif data == "2":
            return "3"
        elif data in ("1", "41"):
            # Engine.IO close / Socket.IO disconnect: the server waits for the client
            # to close the transport, as real clients do.
            return CLOSE
        return None


WIRES: dict[str, type[Wire]] = {"chatd": ChatdWire, "socketio": SocketIOWire}
