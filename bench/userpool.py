"""Authenticated users for the clients: a registered pool for chatd, minted JWTs for the peer.

chatd hashes passwords with bcrypt on purpose (100-300 ms a registration), so the
bench registers a pool once per data directory, in parallel, caches the tokens in
a JSON file beside the data, and deals them out to connections round-robin (a user
with several connections is ordinary: several devices). Tokens close to expiry are
renewed through /api/auth/login. Registration is the honest path: a JWT minted for
a user id the store has never seen would test nothing real.

chatd puts every new user in the room `general` (the contract). The peer has no
such room, and the scenarios define their own rooms, so each pool user leaves
`general` once after registering (a `leave` frame, the client's own path):
otherwise every connection of every scenario would also join one room holding
the whole pool and pay for its presence, work the peer never does.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import aiohttp
import jwt


class PoolError(Exception):
    pass


@dataclass(slots=True)
class PoolUser:
    username: str
    password: str
    user_id: str
    token: str
    expires_at: float
    #: Whether the user has left `general` (see the module docstring).
    left_general: bool = False


class ChatdUserPool:
    def __init__(self, base_url: str, cache_path: Path, *, name_prefix: str = "bench",
                 concurrency: int = 4, min_valid_s: float = 240.0) -> None:
        self.base_url = base_url
        self.name_prefix = name_prefix
        self.cache_path = cache_path
        self.concurrency = concurrency
        self.min_valid_s = min_valid_s
        self.users: list[PoolUser] = []
        if cache_path.exists():
            self.users = [PoolUser(**u) for u in json.loads(cache_path.read_text())]

    def save(self) -> None:
        self.cache_path.write_text(json.dumps([asdict(u) for u in self.users], indent=0))

    async def ensure(self, size: int) -> dict[str, Any]:
        """At least `size` users, each with a token valid for `min_valid_s` more.

        A token is checked at `hello` (and again when a storm reconnects), so it has
        to outlive one scenario, not the run; renewing costs a bcrypt login each.
        """
        started = time.monotonic()
        sem = asyncio.Semaphore(self.concurrency)
        registered = renewed = 0
        async with aiohttp.ClientSession() as http:

            async def new_user(i: int) -> PoolUser:
                async with sem:
                    name = f"{self.name_prefix}{i:06d}"
                    password = secrets.token_urlsafe(12)
                    body = await self._post(http, "/api/auth/register",
                                            {"username": name, "password": password}, (201,))
                    return _pool_user(name, password, body)

            async def renew(u: PoolUser) -> None:
                async with sem:
                    body = await self._post(http, "/api/auth/login",
                                            {"username": u.username, "password": u.password},
                                            (200,))
                    fresh = _pool_user(u.username, u.password, body)
                    u.token, u.expires_at, u.user_id = fresh.token, fresh.expires_at, fresh.user_id

            async def leave_general(u: PoolUser) -> None:
                async with sem:
                    await self._leave_general(http, u)

            missing = range(len(self.users), size)
            if missing:
                self.users.extend(await asyncio.gather(*(new_user(i) for i in missing)))
                registered = len(missing)
            stale = [u for u in self.users[:size]
                     if u.expires_at - time.time() < self.min_valid_s]
            if stale:
                await asyncio.gather(*(renew(u) for u in stale))
                renewed = len(stale)
            staying = [u for u in self.users[:size] if not u.left_general]
            if staying:
                await asyncio.gather(*(leave_general(u) for u in staying))
        self.save()
        return {"users": size, "registered": registered, "renewed": renewed,
                "seconds": round(time.monotonic() - started, 2)}

    def tokens(self, size: int) -> list[str]:
        return [u.token for u in self.users[:size]]

    async def _leave_general(self, http: aiohttp.ClientSession, u: PoolUser) -> None:
        """hello, then `leave general`, waiting for `left` (or `forbidden`: already out)."""
        url = "ws" + self.base_url.removeprefix("http") + "/ws"
        async with http.ws_connect(url) as ws:
            await ws.send_json({"type": "hello", "token": u.token})
            await ws.send_json({"type": "leave", "room": "general", "ref": "pool-leave"})
            while True:
                msg = await asyncio.wait_for(ws.receive(), 30)
                if msg.type != aiohttp.WSMsgType.TEXT:
                    raise PoolError(f"{u.username}: socket closed before leaving general")
                frame = json.loads(msg.data)
                if frame.get("type") == "left" and frame.get("room") == "general":
                    break
                if frame.get("type") == "error" and frame.get("ref") == "pool-leave":
                    if frame.get("code") == "forbidden":
                        break  # not a member any more
                    raise PoolError(f"{u.username}: leave general -> {frame}")
        u.left_general = True

    async def _post(self, http: aiohttp.ClientSession, path: str, body: dict[str, str],
                    ok: tuple[int, ...]) -> dict[str, Any]:
        delay = 0.5
        for _ in range(8):
            async with http.post(self.base_url + path, json=body) as resp:
                if resp.status in ok:
                    data: dict[str, Any] = await resp.json()
                    return data
                text = await resp.text()
                if resp.status == 429:
                    # Throttled: wait as told (or back off) and try again.
                    wait = float(resp.headers.get("Retry-After", delay))
                    await asyncio.sleep(wait)
                    delay = min(delay * 2, 10)
                    continue
                raise PoolError(f"POST {path} for {body['username']!r} -> {resp.status}: "
                                f"{text[:300]}")
        raise PoolError(f"POST {path} still throttled (429) after retries")


def _pool_user(name: str, password: str, body: dict[str, Any]) -> PoolUser:
    try:
        token = body["access_token"]
        user_id = str(body["user"]["id"])
    except (KeyError, TypeError) as exc:
        raise PoolError(f"unexpected auth response shape: {str(body)[:300]}") from exc
    expires_in = float(body.get("expires_in") or 900)
    return PoolUser(name, password, user_id, token, time.time() + expires_in)


def mint_token(secret: str, sub: str, name: str, ttl_s: int = 6 * 3600) -> str:
    """An HS256 JWT with chatd's claim set (sub, iat, exp, jti, iss, aud)."""
    now = int(time.time())
    claims = {"sub": sub, "name": name, "iat": now, "exp": now + ttl_s,
              "jti": uuid.uuid4().hex, "iss": "chatd", "aud": "chatd"}
    return jwt.encode(claims, secret, algorithm="HS256")


def minted_pool(secret: str, size: int, prefix: str = "peer") -> list[str]:
    return [mint_token(secret, f"{prefix}-{i}", f"{prefix}{i:06d}") for i in range(size)]
