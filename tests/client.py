"""A chat client for tests: REST calls and one WebSocket, every received frame checked.

Each frame the server sends is validated against chatd.protocol's schemas, so
any test that talks to the server also guards the documented protocol.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from typing import Any

import aiohttp
from yarl import URL

from chatd.wire.protocol import check_server_frame

PASSWORD = "correct horse battery"


def unique_name(prefix: str = "u") -> str:
    return f"{prefix}{secrets.token_hex(4)}"


class ChatClient:
    def __init__(self, base_url: str, *, check_frames: bool = True) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.token: str | None = None
        self.user: dict[str, Any] | None = None
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.backlog: list[dict[str, Any]] = []
        self.check_frames = check_frames
        self._refs = 0

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        await self.session.close()

    # -- REST ------------------------------------------------------------------------
    async def call(
        self, method: str, path: str, *, json_body: Any = None, token: str | None = None, **kw: Any
    ) -> tuple[int, Any, aiohttp.ClientResponse]:
        headers = dict(kw.pop("headers", {}))
        bearer = token if token is not None else self.token
        if bearer:
            headers["Authorization"] = f"Bearer {bearer}"
        async with self.session.request(
            method, self.base_url + path, json=json_body, headers=headers, **kw
        ) as response:
            raw = await response.read()
            body: Any = None
            if raw and response.content_type == "application/json":
                body = json.loads(raw)
            return response.status, body, response

    async def register(
        self, username: str | None = None, password: str = PASSWORD
    ) -> dict[str, Any]:
        username = username or unique_name()
        status, body, _ = await self.call(
            "POST", "/api/auth/register", json_body={"username": username, "password": password}
        )
        assert status == 201, body
        self.token = body["access_token"]
        self.user = body["user"]
        return body

    def refresh_cookie(self) -> str:
        """The refresh token this client's cookie jar holds right now."""
        cookies = self.session.cookie_jar.filter_cookies(URL(self.base_url + "/api/auth/"))
        return cookies["chatd_refresh"].value

    async def refresh_with(self, token: str) -> tuple[int, Any]:
        """POST /api/auth/refresh presenting `token`, from outside this client's jar."""
        async with (
            aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as outsider,
            outsider.post(
                self.base_url + "/api/auth/refresh", headers={"Cookie": f"chatd_refresh={token}"}
            ) as response,
        ):
            return response.status, await response.json()

    async def login(self, username: str, password: str = PASSWORD) -> tuple[int, Any]:
        status, body, _ = await self.call(
            "POST", "/api/auth/login", json_body={"username": username, "password": password}
        )
        if status == 200:
            self.token = body["access_token"]
            self.user = body["user"]
        return status, body

    # -- WebSocket -------------------------------------------------------------------
    async def connect(
        self,
        *,
        token: str | None = None,
        resume: dict[str, int] | None = None,
        epoch: str | None = None,
        **ws_kw: Any,
    ) -> dict[str, Any]:
        """Open /ws, say hello, and return the `ready` frame.

        `resume` ({room: last seq had}) goes in the hello: after `ready` the
        server replays those rooms, before any of their live events, then sends
        `resumed`; read them with expect/recv like any frame. `epoch` is the
        store epoch those seqs belong to (`ready.epoch` of an earlier connect).
        """
        self.backlog.clear()
        self.ws = await self.session.ws_connect(self.base_url + "/ws", **ws_kw)
        hello: dict[str, Any] = {"type": "hello", "token": token or self.token}
        if resume is not None:
            hello["resume"] = resume
        if epoch is not None:
            hello["epoch"] = epoch
        await self.send(hello)
        return await self.expect("ready")

    async def send(self, frame: dict[str, Any]) -> None:
        assert self.ws is not None
        await self.ws.send_str(json.dumps(frame))

    def next_ref(self) -> str:
        self._refs += 1
        return f"r{self._refs}"

    async def request(self, frame: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
        """Send a frame with a fresh ref and return the ack/error/reply echoing it."""
        ref = self.next_ref()
        await self.send({**frame, "ref": ref})
        return await self.expect(None, timeout=timeout, ref=ref)

    async def recv(self, timeout: float = 5.0) -> dict[str, Any]:
        assert self.ws is not None
        msg = await self.ws.receive(timeout=timeout)
        if msg.type != aiohttp.WSMsgType.TEXT:
            raise ConnectionError(f"socket closed: {msg.type!r} {msg.data!r} {msg.extra!r}")
        frame = json.loads(msg.data)
        if self.check_frames:
            check_server_frame(frame)
        return frame

    async def expect(
        self, frame_type: str | None, timeout: float = 5.0, **match: Any
    ) -> dict[str, Any]:
        """The first frame (backlog first) of that type whose fields equal `match`."""

        def fits(frame: dict[str, Any]) -> bool:
            if frame_type is not None and frame.get("type") != frame_type:
                return False
            return all(frame.get(k) == v for k, v in match.items())

        for i, frame in enumerate(self.backlog):
            if fits(frame):
                return self.backlog.pop(i)
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise TimeoutError(
                    f"no {frame_type} {match} within {timeout} s; saw {self.backlog}"
                )
            frame = await self.recv(timeout=left)
            if fits(frame):
                return frame
            self.backlog.append(frame)

    async def drain(self, quiet: float = 0.3) -> list[dict[str, Any]]:
        """Everything that arrives until the socket is quiet for `quiet` seconds."""
        frames = list(self.backlog)
        self.backlog.clear()
        while True:
            try:
                frames.append(await self.recv(timeout=quiet))
            except TimeoutError:
                return frames

    async def closed(self, timeout: float = 15.0) -> tuple[int | None, list[dict[str, Any]]]:
        """Wait for the server to close the socket; return its close code and last frames."""
        assert self.ws is not None
        seen = []
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            left = deadline - asyncio.get_running_loop().time()
            msg = await self.ws.receive(timeout=max(left, 0.01))
            if msg.type == aiohttp.WSMsgType.TEXT:
                seen.append(json.loads(msg.data))
                continue
            if msg.type == aiohttp.WSMsgType.CLOSE:
                return int(msg.data), seen  # the code the server sent
            if msg.type in (aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED):
                return self.ws.close_code, seen
            raise AssertionError(f"unexpected {msg.type}")
