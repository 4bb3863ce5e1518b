"""Bearer-token authentication for /api/*."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from chatd.auth.tokens import InvalidToken
from chatd.keys import AUTH
from chatd.models import AccessClaims, User
from chatd.observability.logs import user_id_var
from chatd.web.errors import ApiError

USER = web.RequestKey("user", User)
CLAIMS = web.RequestKey("claims", AccessClaims)

#: Reachable without an access token (they are how one gets a token, or are public).
PUBLIC_API_PATHS = frozenset(
    {
        "/api/auth/register",
        "/api/auth/login",
        "/api/auth/refresh",
        "/api/auth/logout",
        "/api/openapi.json",
    }
)


def bearer_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


@web.middleware
async def auth_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    """Attach the caller to the request, or answer 401 for protected API paths."""
    path = request.path
    protected = (
        path.startswith("/api/")
        and path not in PUBLIC_API_PATHS
        and not path.startswith("/api/docs")
    )
    token = bearer_token(request)
    if token is not None:
        try:
            user, claims = await request.app[AUTH].authenticate(token)
        except InvalidToken as exc:
            if protected or path == "/api/auth/logout":
                raise ApiError(
                    401,
                    "token_expired" if exc.expired else "unauthorized",
                    str(exc),
                    headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
                ) from None
        else:
            request[USER] = user
            request[CLAIMS] = claims
            user_id_var.set(user.id)  # for the request's log lines
    elif protected:
        raise ApiError(
            401,
            "unauthorized",
            "missing bearer token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    response: web.StreamResponse = await handler(request)
    return response


def current_user(request: web.Request) -> User:
    """The authenticated caller of a protected view (the middleware guarantees one)."""
    return request[USER]
