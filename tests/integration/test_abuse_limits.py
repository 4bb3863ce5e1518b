"""Abuse limits (#18): login guessing, sign-ups, password changes and open sockets.

Every limit is shared through the broker, so each test runs on both the
in-process and the Redis broker (a fresh key prefix per test on the shared
redis-server). Client addresses are simulated with CHATD_TRUST_PROXY and
X-Forwarded-For.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from tests.client import PASSWORD, ChatClient, unique_name
from tests.integration.processes import ChatdProcess

#: With the default settings: 5 free failures per account and address, then one
#: attempt per back-off period, the first of which (1 s) starts with that attempt.
DEFAULT_ALLOWANCE = 5 + 1


@pytest.fixture(params=["memory", "redis"])
def broker_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def node_settings(make_settings, broker_backend):
    prefix = f"test:{unique_name()}:"

    def build(**env: str):
        return make_settings(
            broker=broker_backend, CHATD_TRUST_PROXY="true", CHATD_REDIS_PREFIX=prefix, **env
        )

    return build


@pytest.fixture
async def clients():
    made: list[ChatClient] = []

    def make(base: str) -> ChatClient:
        client = ChatClient(base)
        made.append(client)
        return client

    yield make
    for client in made:
        await client.close()


def from_address(address: str) -> dict[str, Any]:
    return {"headers": {"X-Forwarded-For": address}}


async def login(
    client: ChatClient, name: str, password: str = PASSWORD, address: str = "10.0.0.1"
) -> tuple[int, Any, aiohttp.ClientResponse]:
    return await client.call(
        "POST",
        "/api/auth/login",
        json_body={"username": name, "password": password},
        **from_address(address),
    )


async def login_status(client: ChatClient, name: str, password: str, address: str) -> int:
    return (await login(client, name, password, address))[0]


async def signed_up(client: ChatClient, address: str = "10.0.0.1") -> str:
    name = unique_name("sam")
    status, body, _ = await client.call(
        "POST",
        "/api/auth/register",
        json_body={"username": name, "password": PASSWORD},
        **from_address(address),
    )
    assert status == 201, body
    client.token, client.user = body["access_token"], body["user"]
    return name


# -- login ---------------------------------------------------------------------------
async def test_parallel_guesses_on_one_account_evaluate_only_the_allowance(
    start_server, node_settings, clients
):
    base = await start_server(settings=node_settings())
    name = await signed_up(clients(base))
    attacker = clients(base)
    guesses = [f"wrong guess {i}" for i in range(199)] + [PASSWORD]
    statuses = await asyncio.gather(
        *(login_status(attacker, name, guess, "10.6.6.6") for guess in guesses)
    )
    evaluated = statuses.count(401) + statuses.count(200)
    assert evaluated + statuses.count(429) == 200
    assert evaluated <= DEFAULT_ALLOWANCE, f"{evaluated} passwords checked"
    assert statuses[-1] == 429, "the right password came after the allowance was spent"
    status, body, response = await login(attacker, name, PASSWORD, "10.6.6.6")
    assert status == 429 and body["error"]["code"] == "rate_limited"
    assert int(response.headers["Retry-After"]) >= 1


async def test_guesses_split_across_two_nodes_share_one_allowance(tmp_path, redis_url):
    env = {
        "REDIS_URL": redis_url,
        "CHATD_REDIS_PREFIX": f"test:{unique_name()}:",
        "CHATD_TRUST_PROXY": "true",
    }
    nodes = [ChatdProcess(tmp_path / "shared", tmp_path, **env).start() for _ in range(2)]
    owner, attackers = ChatClient(nodes[0].url), [ChatClient(n.url) for n in nodes]
    try:
        name = await signed_up(owner)
        statuses = await asyncio.gather(
            *(login_status(attackers[i % 2], name, f"guess {i}", "10.6.6.6") for i in range(60))
        )
        assert statuses.count(401) + statuses.count(429) == 60
        assert statuses.count(401) <= DEFAULT_ALLOWANCE
        for attacker in attackers:
            assert await login_status(attacker, name, PASSWORD, "10.6.6.6") == 429
    finally:
        for client in (owner, *attackers):
            await client.close()
        for node in nodes:
            node.stop_quietly()


async def test_a_look_alike_spelling_shares_the_accounts_limits(
    start_server, node_settings, clients
):
    base = await start_server(settings=node_settings())
    name = await signed_up(clients(base))  # "sam..."
    look_alike = "\u017f" + name[1:]  # LATIN SMALL LETTER LONG S: casefolds to "s"
    # The look-up finds the same account under that spelling.
    assert await login_status(clients(base), look_alike, PASSWORD, "10.5.5.5") == 200
    # Fresh clients (no device cookie) from one address: the look-alike's failures
    # spend the very allowance of the plain spelling.
    attacker = clients(base)
    statuses = [
        await login_status(attacker, look_alike, "wrong guess", "10.6.6.6") for _ in range(6)
    ]
    assert statuses == [401] * 6
    checker = clients(base)
    assert await login_status(checker, name, PASSWORD, "10.6.6.6") == 429
    assert await login_status(checker, name.upper(), PASSWORD, "10.6.6.6") == 429


async def test_the_owner_logs_in_from_a_known_device_while_their_name_is_hammered(
    start_server, node_settings, clients
):
    base = await start_server(settings=node_settings())
    owner = clients(base)
    name = await signed_up(owner, "10.0.0.1")
    assert await login_status(owner, name, PASSWORD, "10.0.0.1") == 200
    cookie = next(c for c in owner.session.cookie_jar if c.key.startswith("chatd_device_"))
    assert cookie["httponly"] and cookie["path"] == "/api/auth"
    assert cookie["samesite"] == "Strict"

    # Guesses from 30 addresses: far past the account's ceiling for new devices.
    attacker = clients(base)
    for n in range(30):
        for _ in range(3):
            await login_status(attacker, name, "wrong guess", f"10.9.0.{n}")
    newcomer = clients(base)
    status, body, _ = await login(newcomer, name, PASSWORD, "10.0.0.2")
    assert status == 429 and "new devices" in body["error"]["message"]

    # The owner's device gets in, from home and even from an attacker's address.
    assert await login_status(owner, name, PASSWORD, "10.0.0.1") == 200
    assert await login_status(owner, name, PASSWORD, "10.9.0.1") == 200
    # A device cookie is good for its own user only, whatever it is called.
    other = clients(base)
    await signed_up(other, "10.0.0.3")
    theirs = next(c for c in other.session.cookie_jar if c.key.startswith("chatd_device_"))
    for presented in (theirs.key, cookie.key):
        status, _, _ = await clients(base).call(
            "POST",
            "/api/auth/login",
            json_body={"username": name, "password": PASSWORD},
            headers={"X-Forwarded-For": "10.0.0.3", "Cookie": f"{presented}={theirs.value}"},
        )
        assert status == 429


async def test_a_known_device_is_still_limited_per_device(start_server, node_settings, clients):
    base = await start_server(settings=node_settings())
    owner = clients(base)
    name = await signed_up(owner)
    statuses = await asyncio.gather(
        *(login_status(owner, name, f"guess {i}", "10.0.0.1") for i in range(40))
    )
    assert statuses.count(401) <= DEFAULT_ALLOWANCE and statuses.count(429) >= 34


# -- sign-ups and password changes -------------------------------------------------------
async def test_sign_ups_are_limited_per_address_and_work_again_after_the_window(
    start_server, node_settings, clients
):
    base = await start_server(
        settings=node_settings(CHATD_REGISTER_LIMIT="3", CHATD_REGISTER_WINDOW="2")
    )
    client = clients(base)

    async def register(address: str) -> aiohttp.ClientResponse:
        body = {"username": unique_name(), "password": PASSWORD}
        _, _, response = await client.call(
            "POST", "/api/auth/register", json_body=body, **from_address(address)
        )
        return response

    answers = await asyncio.gather(*(register("10.1.1.1") for _ in range(10)))
    assert sorted(r.status for r in answers) == [201] * 3 + [429] * 7
    refused = next(r for r in answers if r.status == 429)
    assert 1 <= int(refused.headers["Retry-After"]) <= 2
    assert (await register("10.1.1.2")).status == 201  # another address is not affected
    await asyncio.sleep(int(refused.headers["Retry-After"]) + 0.1)
    assert (await register("10.1.1.1")).status == 201


async def test_wrong_current_passwords_back_off_and_the_right_one_works_after(
    start_server, node_settings, clients
):
    base = await start_server(settings=node_settings())
    thief = clients(base)
    await signed_up(thief)

    async def change(current: str) -> aiohttp.ClientResponse:
        body = {"currentPassword": current, "newPassword": "a brand new password"}
        return (await thief.call("POST", "/api/auth/password", json_body=body))[2]

    answers = await asyncio.gather(*(change(f"guess {i}") for i in range(30)))
    statuses = [r.status for r in answers]
    assert statuses.count(401) <= DEFAULT_ALLOWANCE and statuses.count(429) >= 24
    refused = await change(PASSWORD)
    assert refused.status == 429 and int(refused.headers["Retry-After"]) >= 1
    await asyncio.sleep(int(refused.headers["Retry-After"]) + 0.1)
    assert (await change(PASSWORD)).status == 200


# -- sockets -----------------------------------------------------------------------------
async def open_socket(client: ChatClient, address: str) -> aiohttp.ClientWebSocketResponse:
    ws = await client.session.ws_connect(client.base_url + "/ws", **from_address(address))
    await ws.send_json({"type": "hello", "token": client.token})
    return ws


async def first_frame(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    msg = await ws.receive(timeout=5)
    assert msg.type == aiohttp.WSMsgType.TEXT, msg
    return dict(msg.json())


async def test_sockets_per_user_are_capped_across_nodes_and_free_up_when_closed(
    start_server, node_settings, clients, broker_backend
):
    settings = node_settings(CHATD_SOCKETS_PER_USER="3", CHATD_SOCKETS_PER_ADDRESS="100")
    nodes = [await start_server(settings=settings)]
    if broker_backend == "redis":
        nodes.append(await start_server(settings=settings))
    users = [clients(node) for node in nodes]
    await signed_up(users[0])
    for other in users[1:]:
        other.token = users[0].token
    opened = await asyncio.gather(
        *(open_socket(users[i % len(users)], f"10.2.0.{i}") for i in range(8))
    )
    first = await asyncio.gather(*(first_frame(ws) for ws in opened))
    ready = [ws for ws, frame in zip(opened, first, strict=True) if frame["type"] == "ready"]
    refused = [ws for ws, frame in zip(opened, first, strict=True) if frame["type"] == "error"]
    assert len(ready) == 3 and len(refused) == 5
    frame = next(f for f in first if f["type"] == "error")
    assert frame["code"] == "rate_limited" and frame["retryAfter"] > 0
    for ws in refused:
        assert (await ws.receive(timeout=5)).type == aiohttp.WSMsgType.CLOSE
        assert ws.close_code == 4029

    await ready[0].close()
    await asyncio.sleep(0.2)  # the node stops counting it after the close handshake
    again = await open_socket(users[-1], "10.2.0.99")
    assert (await first_frame(again))["type"] == "ready"
    for ws in [*ready[1:], again]:
        await ws.close()


async def test_sockets_per_address_are_refused_before_the_upgrade(
    start_server, node_settings, clients
):
    base = await start_server(
        settings=node_settings(CHATD_SOCKETS_PER_USER="2", CHATD_SOCKETS_PER_ADDRESS="3")
    )
    alice, bob = clients(base), clients(base)
    await signed_up(alice)
    await signed_up(bob)
    sockets = [await open_socket(c, "10.3.0.1") for c in (alice, alice, bob)]
    for ws in sockets:
        assert (await first_frame(ws))["type"] == "ready"
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await open_socket(bob, "10.3.0.1")
    assert refused.value.status == 429
    assert int(refused.value.headers["Retry-After"]) > 0
    other = await open_socket(bob, "10.3.0.2")  # another address is not affected
    assert (await first_frame(other))["type"] == "ready"

    await sockets[0].close()
    await asyncio.sleep(0.2)
    again = await open_socket(alice, "10.3.0.1")
    assert (await first_frame(again))["type"] == "ready"
    for ws in [*sockets[1:], other, again]:
        await ws.close()


async def test_live_sockets_stay_counted_and_a_crashed_nodes_stop_counting(tmp_path, redis_url):
    env = {
        "REDIS_URL": redis_url,
        "CHATD_REDIS_PREFIX": f"test:{unique_name()}:",
        "CHATD_PRESENCE_TTL": "1",
        "CHATD_SOCKETS_PER_USER": "2",
    }
    doomed, survivor = (ChatdProcess(tmp_path / "shared", tmp_path, **env).start() for _ in "ab")
    on_doomed, on_survivor = ChatClient(doomed.url), ChatClient(survivor.url)
    try:
        await signed_up(on_doomed)
        on_survivor.token = on_doomed.token
        sockets = [await open_socket(on_doomed, "127.0.0.1") for _ in range(2)]
        for ws in sockets:
            assert (await first_frame(ws))["type"] == "ready"
        # Well past the TTL, the heartbeat keeps both counted on every node.
        await asyncio.sleep(2.5)
        third = await open_socket(on_survivor, "127.0.0.1")
        assert (await first_frame(third))["code"] == "rate_limited"

        doomed.kill()  # its sockets are never released: they must expire
        await asyncio.sleep(1.5)
        again = await open_socket(on_survivor, "127.0.0.1")
        assert (await first_frame(again))["type"] == "ready"
        await again.close()
    finally:
        for client in (on_doomed, on_survivor):
            await client.close()
        for node in (doomed, survivor):
            node.stop_quietly()
