"""Accounts and authentication over real sockets, on every store adapter."""

from __future__ import annotations

import asyncio
import base64
import json
import time

import aiohttp
import jwt
import pytest

from chatd.app import create_app
from chatd.keys import HELLO_TIMEOUT
from tests.client import PASSWORD, ChatClient, unique_name
from tests.clock import ManualClock
from tests.fixtures.app import TEST_SECRET


@pytest.fixture
async def server(start_server, store_backend):
    return await start_server(store=store_backend)


@pytest.fixture
async def client(server):
    c = ChatClient(server)
    yield c
    await c.close()


def forge(claims: dict, *, secret: str = TEST_SECRET, algorithm: str = "HS256", **headers) -> str:
    now = int(time.time())
    payload = {"iat": now, "exp": now + 600, "jti": "j1", "iss": "chatd", "aud": "chatd", **claims}
    return jwt.encode(payload, secret, algorithm=algorithm, headers=headers or None)


async def test_full_flow_register_login_me_refresh_logout_and_socket(client):
    registered = await client.register()
    assert registered["token_type"] == "Bearer"
    assert registered["expires_in"] == 900
    name = registered["user"]["username"]

    status, body = await client.login(name)
    assert status == 200
    status, me, _ = await client.call("GET", "/api/me")
    assert (status, me) == (200, registered["user"])

    old_cookie = client.refresh_cookie()
    status, refreshed, response = await client.call("POST", "/api/auth/refresh")
    assert status == 200 and refreshed["access_token"] != body["access_token"]
    new_cookie = response.cookies["chatd_refresh"]
    assert new_cookie.value != old_cookie
    assert new_cookie["httponly"] and new_cookie["samesite"] == "Strict"
    assert new_cookie["path"] == "/api/auth"
    assert not new_cookie["secure"]  # plain-http localhost is the one exception

    # The rotated-away token no longer works (and presenting it is theft).
    status, _ = await client.refresh_with(old_cookie)
    assert status == 401

    client.token = refreshed["access_token"]
    ready = await client.connect()
    assert ready["user"] == registered["user"]
    assert any(room["id"] == "general" for room in ready["rooms"])

    status, _, _ = await client.call("POST", "/api/auth/logout")
    assert status == 204
    status, _ = await client.refresh_with(new_cookie.value)
    assert status == 401
    # Logout also revokes the access token it was called with.
    status, body, _ = await client.call("GET", "/api/me")
    assert status == 401 and body["error"]["code"] == "token_expired"


async def test_reusing_a_rotated_refresh_token_revokes_the_whole_family(client):
    await client.register()
    stolen = client.refresh_cookie()
    status, _, response = await client.call("POST", "/api/auth/refresh")
    assert status == 200
    current = response.cookies["chatd_refresh"].value

    status, body = await client.refresh_with(stolen)
    assert status == 401 and body["error"]["code"] == "unauthorized"
    status, _ = await client.refresh_with(current)
    assert status == 401, "the legitimate token of a reused family must be revoked too"


async def test_unknown_user_and_wrong_password_get_the_same_answer(client):
    await client.register("alice_" + unique_name())
    name = client.user["username"]
    status_wrong, wrong = await client.login(name, "not the password")
    status_unknown, unknown = await client.login(unique_name(), "not the password")
    assert status_wrong == status_unknown == 401
    assert wrong == unknown


async def test_usernames_are_unique_in_any_letter_case(client):
    name = "Bob" + unique_name()
    await client.register(name)
    status, body, _ = await client.call(
        "POST", "/api/auth/register", json_body={"username": name.upper(), "password": PASSWORD}
    )
    assert status == 409 and body["error"]["code"] == "username_taken"
    status, _ = await client.login(name.lower())
    assert status == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"username": "ab", "password": PASSWORD}, "username"),
        ({"username": "x" * 33, "password": PASSWORD}, "username"),
        ({"username": "bad name", "password": PASSWORD}, "username"),
        ({"username": "../etc", "password": PASSWORD}, "username"),
        ({"username": "okname", "password": "short"}, "password"),
        ({"username": "okname", "password": "é" * 600}, "password"),
        ({"password": PASSWORD}, "username"),
        ({"username": "okname", "password": PASSWORD, "admin": True}, "admin"),
        ({"username": 12345, "password": PASSWORD}, "username"),
    ],
)
async def test_invalid_registrations_get_422_with_field_errors(client, body, field):
    status, reply, _ = await client.call("POST", "/api/auth/register", json_body=body)
    assert status == 422
    assert reply["error"]["code"] == "invalid"
    assert field in reply["error"]["fields"]


async def test_non_json_body_is_a_clear_400(client):
    status, reply, _ = await client.call("POST", "/api/auth/register", data=b"not json")
    assert status == 400 and reply["error"]["code"] == "bad_request"


async def test_long_passwords_count_past_72_bytes(client):
    long_password = "p" * 100 + "A"
    await client.register(password=long_password)
    name = client.user["username"]
    status, _ = await client.login(name, "p" * 100 + "B")
    assert status == 401, "bcrypt alone would ignore everything after byte 72"
    status, _ = await client.login(name, long_password)
    assert status == 200


def _unsigned(claims: dict) -> str:
    def b64(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}."


async def test_forged_and_malformed_access_tokens_are_refused(client):
    await client.register()
    user_id = client.user["id"]
    now = int(time.time())
    good = client.token
    bad_tokens = {
        "alg none": _unsigned(
            {
                "sub": user_id,
                "iat": now,
                "exp": now + 600,
                "jti": "x",
                "iss": "chatd",
                "aud": "chatd",
            }
        ),
        "wrong secret": forge({"sub": user_id}, secret="another-secret-of-32-bytes-or-more!!"),
        "HS384 instead of HS256": forge({"sub": user_id}, algorithm="HS384"),
        "RS256 header on an HMAC token": good.replace(
            good.split(".")[0],
            base64.urlsafe_b64encode(b'{"alg":"RS256","typ":"JWT"}').rstrip(b"=").decode(),
        ),
        "expired": forge({"sub": user_id, "iat": now - 1000, "exp": now - 60}),
        "not yet valid": forge({"sub": user_id, "nbf": now + 600}),
        "wrong audience": forge({"sub": user_id, "aud": "someone-else"}),
        "wrong issuer": forge({"sub": user_id, "iss": "evil"}),
        "no jti": jwt.encode(
            {"sub": user_id, "iat": now, "exp": now + 600, "iss": "chatd", "aud": "chatd"},
            TEST_SECRET,
            algorithm="HS256",
        ),
        "unknown user": forge({"sub": "nobody"}),
        "truncated": good[:-10],
        "garbage": "garbage",
        "empty segments": "..",
    }
    for label, token in bad_tokens.items():
        status, body, _ = await client.call("GET", "/api/me", token=token)
        assert status == 401, label
        assert body["error"]["code"] in ("unauthorized", "token_expired"), label
    status, _, _ = await client.call("GET", "/api/me", token=forge({"sub": user_id}))
    assert status == 200, "a correctly signed token is accepted (the forgeries failed on merit)"


async def test_clock_skew_of_a_few_seconds_is_tolerated(client):
    await client.register()
    now = int(time.time())
    token = forge({"sub": client.user["id"], "iat": now + 3, "nbf": now + 3})
    status, _, _ = await client.call("GET", "/api/me", token=token)
    assert status == 200


async def test_api_needs_a_bearer_token(client):
    status, body, response = await client.call("GET", "/api/me")
    assert status == 401 and body["error"]["code"] == "unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


async def test_socket_hello_with_a_bad_token_gets_unauthorized_and_4001(client):
    client.ws = await client.session.ws_connect(client.base_url + "/ws")
    await client.send({"type": "hello", "token": "garbage"})
    frame = await client.recv()
    assert frame["type"] == "error" and frame["code"] == "unauthorized"
    code, _ = await client.closed()
    assert code == 4001


async def test_socket_from_a_foreign_origin_is_refused_before_upgrade(client):
    await client.register()
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await client.session.ws_connect(
            client.base_url + "/ws", headers={"Origin": "https://evil.example"}
        )
    assert refused.value.status == 403
    # The server's own origin is fine.
    ready = await client.connect(origin=client.base_url)
    assert ready["type"] == "ready"


@pytest.mark.slow
def test_a_socket_has_10_seconds_to_say_hello_by_default(make_settings):
    """The contract's 10 s (the test below shortens it so as not to wait for it)."""
    assert create_app(make_settings())[HELLO_TIMEOUT] == 10


async def test_socket_that_never_says_hello_is_closed_after_the_hello_timeout(
    start_server, store_backend
):
    client = ChatClient(await start_server(store=store_backend, hello_timeout=0.5))
    try:
        client.ws = await client.session.ws_connect(client.base_url + "/ws")
        started = time.monotonic()
        code, frames = await client.closed(timeout=5)
        assert code == 4001
        assert frames and frames[0]["code"] == "unauthorized"
        assert 0.45 <= time.monotonic() - started < 3
    finally:
        await client.close()


@pytest.fixture
async def clocked_client(start_server, store_backend):
    """A client of a server whose time the test advances (a token's seconds to expiry)."""
    clock = ManualClock()
    c = ChatClient(await start_server(store=store_backend, clock=clock))
    yield c, clock
    await c.close()


async def test_socket_is_closed_with_token_expired_when_its_token_expires(clocked_client):
    client, clock = clocked_client
    await client.register()
    now = int(clock.time())
    short = forge({"sub": client.user["id"], "iat": now, "exp": now + 2})
    await client.connect(token=short)
    await clock.advance(3)
    code, frames = await client.closed(timeout=10)
    assert code == 4001
    assert any(f.get("code") == "token_expired" for f in frames)


async def test_reauth_before_expiry_keeps_the_socket_open(clocked_client):
    client, clock = clocked_client
    await client.register()
    now = int(clock.time())
    await client.connect(token=forge({"sub": client.user["id"], "iat": now, "exp": now + 2}))
    reply = await client.request({"type": "reauth", "token": client.token})
    assert reply["type"] == "reauthed"
    await clock.advance(3)
    pong = await client.request({"type": "ping"})
    assert pong["type"] == "pong"


async def test_changing_the_password_revokes_sessions_and_closes_sockets(server, client):
    await client.register()
    name = client.user["username"]
    other = ChatClient(server)
    try:
        await other.login(name)
        await other.connect()
        status, body, _ = await client.call(
            "POST",
            "/api/auth/password",
            json_body={"currentPassword": PASSWORD, "newPassword": "a brand new password"},
        )
        assert status == 200
        code, frames = await other.closed(timeout=5)
        assert code == 4001
        assert any(f.get("code") == "token_expired" for f in frames)
        status, _, _ = await other.call("POST", "/api/auth/refresh")
        assert status == 401
        status, _, _ = await other.call("GET", "/api/me")
        assert status == 401
        # The client that changed it got a fresh session.
        status, _, _ = await client.call("GET", "/api/me", token=body["access_token"])
        assert status == 200
        assert (await client.login(name))[0] == 401
        assert (await client.login(name, "a brand new password"))[0] == 200
    finally:
        await other.close()


async def test_failed_logins_back_off_with_429_and_retry_after(client):
    await client.register()
    name = client.user["username"]
    statuses = [(await client.login(name, "wrong password!"))[0] for _ in range(6)]
    assert statuses[:5] == [401] * 5
    status, body, response = await client.call(
        "POST", "/api/auth/login", json_body={"username": name, "password": PASSWORD}
    )
    assert status == 429 and body["error"]["code"] == "rate_limited"
    assert int(response.headers["Retry-After"]) >= 1
    await asyncio.sleep(int(response.headers["Retry-After"]) + 0.1)
    assert (await client.login(name))[0] == 200


async def test_security_headers_on_pages_api_and_errors(client):
    for path in ("/", "/api/me", "/healthz", "/api/openapi.json", "/nowhere"):
        _, _, response = await client.call("GET", path)
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp, path
        assert "frame-ancestors 'none'" in csp, path
        assert response.headers["X-Content-Type-Options"] == "nosniff", path
        assert response.headers["Referrer-Policy"] == "no-referrer", path


async def test_openapi_document_covers_the_account_endpoints_and_renders(client):
    status, spec, _ = await client.call("GET", "/api/openapi.json")
    assert status == 200 and spec["openapi"].startswith("3.")
    for path in (
        "/api/auth/register",
        "/api/auth/login",
        "/api/auth/refresh",
        "/api/auth/logout",
        "/api/me",
        "/api/rooms",
        "/api/rooms/{room}/messages",
    ):
        assert path in spec["paths"], path
    register = spec["paths"]["/api/auth/register"]["post"]
    assert {"201", "409", "422"} <= set(register["responses"])
    status, _, response = await client.call("GET", "/api/docs")
    assert status == 200 and response.content_type == "text/html"
