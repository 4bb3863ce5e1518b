"""ping, and hello/reauth after the handshake: keep a socket alive and authenticated."""

from __future__ import annotations

from typing import Any

from marshmallow import fields, validate

from chatd.auth.tokens import InvalidToken
from chatd.handlers.base import FrameContext, FrameError, FrameSchema, Handler, RateLimit
from chatd.wire import frames


class PingHandler(Handler):
    frame_type = "ping"
    rate_limit = RateLimit(burst=10, per_second=2)

    async def handle(self, ctx: FrameContext, frame: dict[str, Any]) -> None:
        ctx.conn.send(frames.pong(ctx.ref))


class TokenSchema(FrameSchema):
    token = fields.String(required=True, validate=validate.Length(min=1, max=4096))


class ReauthHandler(Handler):
    """A fresh access token before the old one expires keeps the socket open."""

    frame_type = "reauth"
    schema = TokenSchema
    rate_limit = RateLimit(burst=5, per_second=0.2)

    async def handle(self, ctx: FrameContext, frame: dict[str, Any]) -> None:
        try:
            user, claims = await self.services.auth.authenticate(frame["token"])
        except InvalidToken as exc:
            raise FrameError("unauthorized", str(exc)) from None
        if user.id != ctx.user.id:
            raise FrameError("unauthorized", "token belongs to another user")
        ctx.conn.claims = claims
        self.services.sockets.watch(ctx.conn)
        ctx.conn.send(frames.reauthed(claims.expires_at - claims.issued_at, ctx.ref))


class HelloHandler(ReauthHandler):
    """`hello` again on an open socket means the same as `reauth`."""

    frame_type = "hello"
