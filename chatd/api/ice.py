"""GET /api/ice-servers: the STUN/TURN servers a client uses for one call.

TURN credentials follow coturn's REST scheme (`use-auth-secret`): the username
is `<expiry epoch seconds>:<user id>` and the password is
base64(HMAC-SHA1(TURN_SECRET, username)). coturn recomputes the HMAC with the
same shared secret and refuses the username once its expiry has passed, so the
client gets short-lived credentials and never the secret itself.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any

from aiohttp import web
from marshmallow import Schema, fields

from chatd.keys import SETTINGS
from chatd.settings import Settings
from chatd.util.jsonutil import dumps
from chatd.web.auth import current_user
from chatd.web.openapi import documented

#: Lifetime of TURN credentials. Clients fetch them per call; an hour covers
#: the ICE restarts of a long call (established allocations are refreshed by
#: coturn with the credentials they were made with).
CREDENTIAL_TTL_SECONDS = 3600


def turn_credentials(secret: str, user_id: str, ttl: int, now: float) -> tuple[str, str]:
    """(username, credential) for coturn's `use-auth-secret`, valid for `ttl` seconds."""
    username = f"{int(now) + ttl}:{user_id}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode()


def ice_config(settings: Settings, user_id: str, now: float) -> dict[str, Any]:
    servers: list[dict[str, Any]] = []
    if settings.stun_urls:
        servers.append({"urls": list(settings.stun_urls)})
    if settings.turn_urls and settings.turn_secret:
        username, credential = turn_credentials(
            settings.turn_secret, user_id, CREDENTIAL_TTL_SECONDS, now
        )
        servers.append(
            {"urls": list(settings.turn_urls), "username": username, "credential": credential}
        )
    return {
        "iceServers": servers,
        "iceTransportPolicy": settings.ice_transport_policy,
        "ttl": CREDENTIAL_TTL_SECONDS,
    }


class IceServerSchema(Schema):
    urls = fields.List(fields.String())
    username = fields.String()
    credential = fields.String()


class IceConfigSchema(Schema):
    iceServers = fields.List(fields.Nested(IceServerSchema))
    iceTransportPolicy = fields.String(metadata={"enum": ["all", "relay"]})
    ttl = fields.Integer(metadata={"description": "seconds the TURN credentials stay valid"})


@documented(
    summary="STUN/TURN servers for a call, with short-lived TURN credentials",
    tags=("calls",),
    responses={200: ("RTCConfiguration fields", IceConfigSchema)},
)
async def ice_servers(request: web.Request) -> web.Response:
    """Pass `iceServers` and `iceTransportPolicy` to `new RTCPeerConnection(...)`."""
    config = ice_config(request.app[SETTINGS], current_user(request).id, time.time())
    # Credentials: never cached by a browser or a proxy.
    return web.json_response(config, dumps=dumps, headers={"Cache-Control": "no-store"})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/ice-servers", ice_servers)
