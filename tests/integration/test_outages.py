"""Backend outages answered honestly (security issue #18, D9-D12).

Faults are injected into real processes: a redis-server that is stopped (and
restarted without persistence), an nx-27017 that is stopped, a tmpfs that is
filled to the last byte. chatd runs on a real loopback socket against them.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from chatd.broker.counters import RETRY_SHARED_SECONDS
from tests.client import ChatClient, unique_name
from tests.fixtures.app import ServerFactory
from tests.fixtures.disk import SmallDisk
from tests.fixtures.mongo import NxMongoServer, fresh_db_name
from tests.fixtures.redis import RedisServer
from tests.integration.processes import ChatdProcess

#: Long enough that the message certainly needs fresh pages of the SQLite WAL.
LONG_TEXT = "x" * 4000


def assert_unavailable(status: int, body: Any, response: aiohttp.ClientResponse) -> None:
    assert status == 503, body
    assert body["error"]["code"] == "unavailable", body
    assert int(response.headers["Retry-After"]) > 0


# -- Redis down ------------------------------------------------------------------------


#: The login allowance per account and address with the default settings: 5 free
#: failures, then one attempt per back-off period (the first starts with it).
LOGIN_ALLOWANCE = 5 + 1


def outage_lines(caplog: pytest.LogCaptureFixture, text: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "chatd.util.outages" and text in r.getMessage()]


async def bad_logins_until_refused(client: ChatClient, name: str, most: int) -> int:
    """Wrong-password logins until one is refused (429); how many were answered 401."""
    for made in range(most + 1):
        status, body, response = await client.call(
            "POST", "/api/auth/login", json_body={"username": name, "password": "wrong" * 3}
        )
        if status == 429:
            assert body["error"]["code"] == "rate_limited", body
            assert int(response.headers["Retry-After"]) > 0
            return made
        assert status == 401, body
    return most + 1


async def test_with_redis_down_each_node_serves_accounts_reads_writes_and_sockets(
    start_server: ServerFactory,
    make_settings: Any,
    restartable_redis: RedisServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="chatd.util.outages")
    settings = make_settings(broker="redis", REDIS_URL=restartable_redis.url)
    nodes = [await start_server(settings=settings), await start_server(settings=settings)]
    clients = [ChatClient(base) for base in nodes for _ in range(3)]
    try:
        for client in clients:
            await client.register()
        alice, bob, carol, dave, erin, _frank = clients
        await alice.connect()
        restartable_redis.stop()
        caplog.clear()

        for node, (first, second) in zip(nodes, [(alice, bob), (dave, erin)], strict=True):
            assert first.user is not None and second.user is not None
            # Accounts: sign-up, login, refresh, logout (none of them a 503).
            newcomer = ChatClient(node)
            clients.append(newcomer)
            await newcomer.register()
            status, body = await second.login(second.user["username"])
            assert status == 200, body
            status, body, _ = await second.call("POST", "/api/auth/refresh")
            assert status == 200, body
            # Reads and writes that need only the store.
            for path in ("/api/rooms", "/api/me", "/api/rooms/general/messages"):
                status, body, _ = await second.call("GET", path)
                assert status == 200, (path, body)
            status, body, _ = await second.call(
                "POST", "/api/rooms", json_body={"name": unique_name("r")}
            )
            assert status == 201, body
            # Who is online lives in Redis: everyone shows offline, flagged.
            status, body, _ = await second.call("GET", "/api/rooms/general/members")
            assert status == 200, body
            assert body["onlineUnknown"] is True
            assert not [m for m in body["members"] if m["online"]]
            # A new socket, and a message on it, delivered on its own node.
            ready = await second.connect()
            assert ready["user"]["id"] == second.user["id"]
            ack = await second.request({"type": "message", "room": "general", "text": "hi"})
            assert ack["type"] == "ack", ack
            status, body, _ = await newcomer.call("POST", "/api/auth/logout")
            assert status == 204, body
            # The login throttle still refuses past the allowance (on this node).
            assert await bad_logins_until_refused(first, first.user["username"], 10) == (
                LOGIN_ALLOWANCE
            )

        # One warning per node for the whole outage, not a line (or traceback) per request.
        assert len(outage_lines(caplog, "broker is unavailable")) == len(nodes), caplog.records
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
        # Besides it, only the subscriber's own line about losing its connection.
        assert not [
            r
            for r in caplog.records
            if r.levelno >= logging.WARNING
            and r.name not in ("chatd.util.outages", "chatd.broker.redis")
        ], caplog.records

        restartable_redis.start()
        for _ in range(100):
            if len(outage_lines(caplog, "available again")) == 2:  # one per node
                break
            await asyncio.sleep(0.1)
            # A login nudges the counters to try Redis again.
            assert carol.user is not None
            await carol.login(carol.user["username"])
        assert len(outage_lines(caplog, "broker is available again")) == 2, caplog.records
        # Shared again (each node tries Redis again within RETRY_SHARED_SECONDS):
        # failures on both nodes count against one allowance.
        await asyncio.sleep(RETRY_SHARED_SECONDS)
        # (From clients without carol's device cookie, which has a limit of its own.)
        assert carol.user is not None
        strangers = [ChatClient(node) for node in nodes]
        clients.extend(strangers)
        assert await bad_logins_until_refused(strangers[0], carol.user["username"], 3) == 4
        assert await bad_logins_until_refused(
            strangers[1], carol.user["username"], LOGIN_ALLOWANCE
        ) == (LOGIN_ALLOWANCE - 4)
        status, body, _ = await carol.call("GET", "/api/rooms/general/members")
        assert status == 200 and body["onlineUnknown"] is False, body
    finally:
        for client in clients:
            await client.close()


async def test_with_redis_down_a_frame_that_needs_it_gets_unavailable_and_the_socket_lives(
    start_server: ServerFactory, restartable_redis: RedisServer
) -> None:
    base = await start_server(broker="redis", REDIS_URL=restartable_redis.url)
    alice = ChatClient(base)
    try:
        await alice.register()
        await alice.connect()
        assert (await alice.request({"type": "ping"}))["type"] == "pong"
        restartable_redis.stop()

        # A call's roster lives in Redis.
        error = await alice.request({"type": "call-join", "room": "general"}, timeout=10)
        assert error["type"] == "error" and error["code"] == "unavailable", error
        assert error["retryAfter"] > 0
        pong = await alice.request({"type": "ping"})
        assert pong["type"] == "pong"
    finally:
        await alice.close()


async def test_a_logout_survives_a_redis_restart_without_persistence(
    start_server: ServerFactory, restartable_redis: RedisServer
) -> None:
    base = await start_server(broker="redis", REDIS_URL=restartable_redis.url)
    alice = ChatClient(base)
    try:
        await alice.register()
        status, _, _ = await alice.call("POST", "/api/auth/logout")
        assert status == 204
        restartable_redis.stop()
        restartable_redis.start()  # empty: the server keeps nothing on disk

        status, body, _ = await alice.call("GET", "/api/me")
        assert status == 401, body
        assert body["error"]["code"] == "token_expired"
    finally:
        await alice.close()


# -- store down ------------------------------------------------------------------------


async def test_with_the_store_down_hello_gets_unavailable_then_close_1013(
    start_server: ServerFactory, restartable_mongo: NxMongoServer
) -> None:
    base = await start_server(store="mongo", MONGODB_URI=f"{restartable_mongo.uri}/chatd")
    alice = ChatClient(base)
    try:
        await alice.register()
        restartable_mongo.stop()

        alice.ws = await alice.session.ws_connect(base.rstrip("/") + "/ws")
        await alice.send({"type": "hello", "token": alice.token})
        code, frames = await alice.closed(timeout=15)
        assert [f["code"] for f in frames if f["type"] == "error"] == ["unavailable"], frames
        assert frames[-1]["retryAfter"] > 0
        assert code == 1013

        status, body, response = await alice.call("GET", "/api/rooms")
        assert_unavailable(status, body, response)
    finally:
        await alice.close()


async def test_with_the_store_down_a_message_frame_gets_unavailable_and_the_socket_lives(
    start_server: ServerFactory, restartable_mongo: NxMongoServer
) -> None:
    base = await start_server(store="mongo", MONGODB_URI=f"{restartable_mongo.uri}/chatd")
    alice = ChatClient(base)
    try:
        await alice.register()
        await alice.connect()
        # Answered once the socket's set-up (rooms, presence, calls) is done.
        assert (await alice.request({"type": "ping"}))["type"] == "pong"
        restartable_mongo.stop()

        error = await alice.request(
            {"type": "message", "room": "general", "text": "anyone?"}, timeout=20
        )
        assert error["type"] == "error" and error["code"] == "unavailable", error
        pong = await alice.request({"type": "ping"})
        assert pong["type"] == "pong"
    finally:
        await alice.close()


# -- disk full -------------------------------------------------------------------------


#: MongoDB comes up this long after chatd started without it.
MONGO_LATE_SECONDS = 10
#: Connecting by itself takes at most the capped back-off plus a server
#: selection timeout (chatd/store/mongo.py); slack for a loaded machine.
MONGO_CONNECT_WITHIN_SECONDS = 40


async def test_with_mongodb_down_at_start_chatd_serves_503_then_connects_by_itself(
    tmp_path: Path, restartable_mongo: NxMongoServer
) -> None:
    restartable_mongo.stop()
    node = ChatdProcess(
        tmp_path / "data", tmp_path, MONGODB_URI=f"{restartable_mongo.uri}/{fresh_db_name()}"
    )
    alice = ChatClient(node.url)
    try:
        await asyncio.to_thread(node.start, 30.0)
        status, raw = await asyncio.to_thread(node.get, "/readyz")
        assert status == 503, raw
        assert "mongodb" in json.loads(raw)["checks"]["store"]
        status, body, response = await alice.call(
            "POST", "/api/auth/register", json_body={"username": "alice", "password": "x" * 12}
        )
        assert_unavailable(status, body, response)

        await asyncio.sleep(MONGO_LATE_SECONDS)
        await asyncio.to_thread(restartable_mongo.start)
        deadline = asyncio.get_running_loop().time() + MONGO_CONNECT_WITHIN_SECONDS
        while (status := (await asyncio.to_thread(node.get, "/readyz"))[0]) != 200:
            assert asyncio.get_running_loop().time() < deadline, node.log()
            await asyncio.sleep(0.5)

        await alice.register()
        ready = await alice.connect()
        assert "general" in [room["id"] for room in ready["rooms"]], ready
        ack = await alice.request({"type": "message", "room": "general", "text": "hello"})
        assert ack["type"] == "ack", ack
        status, body, _ = await alice.call("GET", "/api/rooms/general/messages")
        assert [m["text"] for m in body["messages"]] == ["hello"], body
        assert "Traceback" not in node.log()
    finally:
        await alice.close()
        node.stop_quietly()


async def test_a_full_disk_refuses_uploads_and_messages_with_507_and_fails_readyz(
    start_server: ServerFactory, small_disk: SmallDisk
) -> None:
    base = await start_server(CHATD_DATA_DIR=str(small_disk.path))
    alice = ChatClient(base)
    try:
        await alice.register()
        await alice.connect()
        small_disk.fill()

        form = aiohttp.FormData()
        form.add_field("file", bytes(64 * 1024), filename="notes.txt", content_type="text/plain")
        status, body, _ = await alice.call("POST", "/api/rooms/general/files", data=form)
        assert status == 507, body
        assert body["error"]["code"] == "storage_full"

        # SQLite may still fit a message or two in pages it already holds.
        codes = []
        for _ in range(50):
            answer = await alice.request({"type": "message", "room": "general", "text": LONG_TEXT})
            codes.append(answer.get("code", answer["type"]))
            if answer["type"] == "error":
                break
        assert codes[-1] == "storage_full", codes

        async with alice.session.get(base.rstrip("/") + "/readyz") as response:
            assert response.status == 503
            report = json.loads(await response.read())
        assert "full" in report["checks"]["store"], report
        assert "store" in report["error"]["message"]

        small_disk.free()
        ack = await alice.request({"type": "message", "room": "general", "text": "room again"})
        assert ack["type"] == "ack", ack
        async with alice.session.get(base.rstrip("/") + "/readyz") as response:
            assert response.status == 200
    finally:
        await alice.close()
