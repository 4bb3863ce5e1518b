"""Backend outages answered honestly (security issue #18, D9-D12).

Faults are injected into real processes: a redis-server that is stopped (and
restarted without persistence), an nx-27017 that is stopped, a tmpfs that is
filled to the last byte. chatd runs on a real loopback socket against them.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import aiohttp
import pytest

from tests.client import PASSWORD, ChatClient
from tests.fixtures.app import ServerFactory
from tests.fixtures.disk import SmallDisk
from tests.fixtures.mongo import NxMongoServer
from tests.fixtures.redis import RedisServer

#: Long enough that the message certainly needs fresh pages of the SQLite WAL.
LONG_TEXT = "x" * 4000


def assert_unavailable(status: int, body: Any, response: aiohttp.ClientResponse) -> None:
    assert status == 503, body
    assert body["error"]["code"] == "unavailable", body
    assert int(response.headers["Retry-After"]) > 0


# -- Redis down ------------------------------------------------------------------------


async def test_with_redis_down_login_is_503_and_calls_that_need_no_broker_work(
    start_server: ServerFactory, restartable_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    base = await start_server(broker="redis", REDIS_URL=restartable_redis.url)
    alice = ChatClient(base)
    try:
        await alice.register()
        restartable_redis.stop()
        caplog.clear()

        status, body, _ = await alice.call("GET", "/api/rooms")
        assert status == 200, body
        status, body, _ = await alice.call("GET", "/api/rooms/general/messages")
        assert status == 200, body
        ready = await alice.connect()  # hello checks the token against the store only
        assert ready["user"]["id"] == alice.user["id"]

        for _ in range(3):
            status, body, response = await alice.call(
                "POST",
                "/api/auth/login",
                json_body={"username": alice.user["username"], "password": PASSWORD},
            )
            assert_unavailable(status, body, response)
        # One warning for the whole outage (the socket's cap check met it first),
        # not a traceback per request.
        outage_lines = [r for r in caplog.records if r.name == "chatd.util.outages"]
        assert len(outage_lines) == 1, outage_lines
        assert "broker is unavailable" in outage_lines[0].getMessage()
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    finally:
        await alice.close()


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
