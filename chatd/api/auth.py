"""REST views of the account endpoints; rules live in AuthService."""

from __future__ import annotations

from aiohttp import web

from chatd.auth import devices
from chatd.auth.limits import Throttled
from chatd.auth.service import BadCredentials, InvalidRefresh, Session, UsernameTaken
from chatd.auth.tokens import REFRESH_TOKEN_SECONDS
from chatd.keys import AUTH, SETTINGS
from chatd.util.jsonutil import dumps
from chatd.web.auth import CLAIMS, current_user
from chatd.web.errors import ApiError
from chatd.web.openapi import documented
from chatd.web.parsing import parse_body
from chatd.web.schemas import (
    ChangePasswordSchema,
    CredentialsSchema,
    LoginSchema,
    TokenResponseSchema,
    UserSchema,
    user_json,
)

REFRESH_COOKIE = "chatd_refresh"
REFRESH_COOKIE_PATH = "/api/auth"
_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})


def client_address(request: web.Request) -> str:
    """The caller's IP; behind a trusted proxy, the last X-Forwarded-For hop it added."""
    if request.app[SETTINGS].trust_proxy:
        forwarded = request.headers.get("X-Forwarded-For", "")
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if hops:
            return hops[-1]
    return request.remote or "unknown"


def cookie_secure(request: web.Request) -> bool:
    """Secure everywhere except plain-http localhost, where browsers would drop it."""
    return not (request.scheme == "http" and (request.url.host or "") in _LOCAL_HOSTS)


def _session_response(request: web.Request, session: Session, status: int) -> web.Response:
    body = {
        "user": user_json(session.user),
        "access_token": session.access_token,
        "token_type": "Bearer",
        "expires_in": session.claims.expires_at - session.claims.issued_at,
    }
    response = web.json_response(body, status=status, dumps=dumps)
    response.headers["Cache-Control"] = "no-store"
    response.set_cookie(
        REFRESH_COOKIE,
        session.refresh_token,
        max_age=REFRESH_TOKEN_SECONDS,
        path=REFRESH_COOKIE_PATH,
        httponly=True,
        samesite="Strict",
        secure=cookie_secure(request),
    )
    if session.device_cookie is not None:
        response.set_cookie(
            session.device_cookie.name,
            session.device_cookie.value,
            max_age=devices.COOKIE_SECONDS,
            path=devices.COOKIE_PATH,
            httponly=True,
            samesite="Strict",
            secure=cookie_secure(request),
        )
    return response


def _rate_limited(exc: Throttled) -> ApiError:
    return ApiError(429, "rate_limited", str(exc), headers={"Retry-After": str(exc.retry_after)})


def _clear_cookie(request: web.Request, response: web.StreamResponse) -> None:
    response.del_cookie(
        REFRESH_COOKIE,
        path=REFRESH_COOKIE_PATH,
        httponly=True,
        samesite="Strict",
        secure=cookie_secure(request),
    )


_AUTH_TAGS = ("auth",)


@documented(
    summary="Create an account",
    tags=_AUTH_TAGS,
    body=CredentialsSchema,
    responses={
        201: ("Signed up; refresh and device cookies set", TokenResponseSchema),
        409: ("Username taken (in any letter case)", None),
        422: ("Invalid username or password", None),
        429: ("Too many accounts created from this address; see Retry-After", None),
    },
    public=True,
)
async def register(request: web.Request) -> web.Response:
    data = await parse_body(request, CredentialsSchema())
    try:
        session = await request.app[AUTH].register(
            data["username"], data["password"], client_address(request)
        )
    except UsernameTaken:
        raise ApiError(409, "username_taken", "that username is taken") from None
    except Throttled as exc:
        raise _rate_limited(exc) from None
    return _session_response(request, session, 201)


@documented(
    summary="Log in",
    tags=_AUTH_TAGS,
    body=LoginSchema,
    responses={
        200: ("Logged in; refresh and device cookies set", TokenResponseSchema),
        401: ("Wrong username or password", None),
        429: ("Too many failed attempts; see Retry-After", None),
    },
    public=True,
)
async def login(request: web.Request) -> web.Response:
    data = await parse_body(request, LoginSchema())
    try:
        session = await request.app[AUTH].login(
            data["username"], data["password"], client_address(request), request.cookies
        )
    except BadCredentials as exc:
        raise ApiError(401, "bad_credentials", str(exc)) from None
    except Throttled as exc:
        raise _rate_limited(exc) from None
    return _session_response(request, session, 200)


@documented(
    summary="Get a new access token with the refresh cookie (rotates the cookie)",
    tags=_AUTH_TAGS,
    responses={
        200: ("New access token; refresh cookie rotated", TokenResponseSchema),
        401: ("Missing, expired, revoked or reused refresh token", None),
    },
    public=True,
)
async def refresh(request: web.Request) -> web.Response:
    raw = request.cookies.get(REFRESH_COOKIE)
    if not raw:
        raise ApiError(401, "unauthorized", "no refresh token")
    try:
        session = await request.app[AUTH].refresh(raw)
    except InvalidRefresh:
        raise ApiError(401, "unauthorized", "refresh token is not valid") from None
    return _session_response(request, session, 200)


@documented(
    summary="Log out: revoke the refresh cookie (and the access token, if sent)",
    tags=_AUTH_TAGS,
    responses={204: ("Logged out", None)},
    public=True,
)
async def logout(request: web.Request) -> web.Response:
    claims = request.get(CLAIMS)
    await request.app[AUTH].logout(request.cookies.get(REFRESH_COOKIE), claims)
    response = web.Response(status=204)
    _clear_cookie(request, response)
    return response


@documented(
    summary="Change the password; every other session is logged out",
    tags=_AUTH_TAGS,
    body=ChangePasswordSchema,
    responses={
        200: ("Changed; a fresh session for this client", TokenResponseSchema),
        401: ("Current password wrong", None),
        422: ("Invalid new password", None),
        429: ("Too many wrong current passwords; see Retry-After", None),
    },
)
async def change_password(request: web.Request) -> web.Response:
    data = await parse_body(request, ChangePasswordSchema())
    try:
        session = await request.app[AUTH].change_password(
            current_user(request), data["current_password"], data["new_password"]
        )
    except BadCredentials:
        raise ApiError(401, "bad_credentials", "current password is wrong") from None
    except Throttled as exc:
        raise _rate_limited(exc) from None
    return _session_response(request, session, 200)


@documented(
    summary="The caller's account",
    tags=_AUTH_TAGS,
    responses={200: ("The caller", UserSchema), 401: ("No valid access token", None)},
)
async def me(request: web.Request) -> web.Response:
    return web.json_response(user_json(current_user(request)), dumps=dumps)


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/auth/register", register)
    app.router.add_post("/api/auth/login", login)
    app.router.add_post("/api/auth/refresh", refresh)
    app.router.add_post("/api/auth/logout", logout)
    app.router.add_post("/api/auth/password", change_password)
    app.router.add_get("/api/me", me)
