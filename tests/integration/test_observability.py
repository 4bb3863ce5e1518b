"""Operations issue #20, observability: /metrics, request ids, JSON and access logs.

Everything over real sockets: chatd in-process on a loopback port, and as a real
process (`python -m chatd`) for what only the process sets up (its log format).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.client import ChatClient, unique_name
from tests.fixtures.ports import free_port
from tests.integration.processes import ChatdProcess

TOKEN = "scrape-me-0123456789"


async def _get(url: str, **headers: str) -> tuple[int, str, aiohttp.typedefs.LooseHeaders]:
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as response:
        return response.status, await response.text(), response.headers


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def _scrape(base: str) -> dict:
    status, text, _ = await _get(base.rstrip("/") + "/metrics", Authorization=f"Bearer {TOKEN}")
    assert status == 200, text
    return _samples(text)


# -- /metrics: who may read it ---------------------------------------------------------


async def test_metrics_are_not_found_without_a_token_configured(start_server):
    base = await start_server()
    assert (await _get(base + "metrics"))[0] == 404
    assert (await _get(base + "metrics", Authorization="Bearer anything"))[0] == 404


async def test_metrics_need_the_configured_bearer_token(start_server, make_settings):
    base = await start_server(settings=make_settings(CHATD_METRICS_TOKEN=TOKEN))
    status, _, headers = await _get(base + "metrics")
    assert status == 401
    assert headers["WWW-Authenticate"] == "Bearer"
    assert (await _get(base + "metrics", Authorization="Bearer wrong-token"))[0] == 401
    assert (await _get(base + "metrics", Authorization=TOKEN))[0] == 401  # no scheme
    status, text, headers = await _get(base + "metrics", Authorization=f"Bearer {TOKEN}")
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain")
    names = {family.name for family in text_string_to_metric_families(text)}
    assert {"chatd_sockets_open", "chatd_frames_in", "chatd_http_requests"} <= names
    assert all(name.startswith("chatd_") for name in names)


async def test_metrics_port_serves_them_and_the_main_port_does_not(start_server, make_settings):
    port = free_port()
    settings = make_settings(CHATD_METRICS_TOKEN=TOKEN, CHATD_METRICS_PORT=str(port))
    base = await start_server(settings=settings)
    assert (await _get(base + "metrics", Authorization=f"Bearer {TOKEN}"))[0] == 404
    status, text, _ = await _get(f"http://127.0.0.1:{port}/metrics")
    assert status == 200
    assert "chatd_sockets_open" in text


async def test_each_app_counts_only_itself(start_server, make_settings):
    """Two apps in one process: a registry each, no global default registry."""
    first = await start_server(settings=make_settings(CHATD_METRICS_TOKEN=TOKEN))
    second = await start_server(settings=make_settings(CHATD_METRICS_TOKEN=TOKEN))
    for _ in range(3):
        assert (await _get(first + "healthz"))[0] == 200
    healthz = {"method": "GET", "route": "/healthz", "status": "200"}
    assert _value(await _scrape(first), "chatd_http_requests_total", **healthz) == 3
    assert _value(await _scrape(second), "chatd_http_requests_total", **healthz) == 0


# -- the figures move with a session -----------------------------------------------------


async def _until(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.05)


async def test_figures_follow_a_scripted_session(start_server, make_settings):
    base = await start_server(settings=make_settings(CHATD_METRICS_TOKEN=TOKEN))
    before = await _scrape(base)
    assert _value(before, "chatd_sockets_open") == 0
    alice = ChatClient(base)
    try:
        await alice.register()
        await alice.connect()
        assert _value(await _scrape(base), "chatd_sockets_open") == 1
        for text in ("one", "two"):
            ack = await alice.request({"type": "message", "room": "general", "text": text})
            assert ack["type"] == "ack"
        await alice.expect("message")
        refused = await alice.request({"type": "message", "room": "elsewhere", "text": "no"})
        assert refused["code"] == "forbidden"
        unknown = await alice.request({"type": "no-such-frame"})
        assert unknown["code"] == "unknown_type"
        status, _, _ = await alice.call("GET", "/api/rooms/no-such-room/messages")
        assert status == 404
        during = await _scrape(base)
    finally:
        await alice.close()

    assert _value(during, "chatd_frames_in_total", type="hello") == 1
    assert _value(during, "chatd_frames_in_total", type="message") == 3
    # A client picks the type: unknown ones share one series.
    assert _value(during, "chatd_frames_in_total", type="unknown") == 1
    assert _value(during, "chatd_frames_in_total", type="no-such-frame") == 0
    assert _value(during, "chatd_frames_out_total", type="ready") == 1
    assert _value(during, "chatd_frames_out_total", type="ack") == 2
    assert _value(during, "chatd_frames_out_total", type="error") == 2
    assert _value(during, "chatd_frames_out_total", type="fanout") >= 2  # her own echoes
    assert _value(during, "chatd_refusals_total", via="frame", code="forbidden") == 1
    assert _value(during, "chatd_refusals_total", via="frame", code="unknown_type") == 1
    assert _value(during, "chatd_refusals_total", via="http", code="not_found") == 1
    # The route's pattern, never the raw path.
    route = "/api/rooms/{room}/messages"
    assert _value(during, "chatd_http_requests_total", method="GET", route=route, status="404") == 1
    assert not any("no-such-room" in dict(labels).get("route", "") for _, labels in during)
    assert _value(during, "chatd_store_call_seconds_count", method="append_message") == 2
    assert _value(during, "chatd_broker_call_seconds_count", method="publish") >= 2

    async def closed() -> bool:
        return _value(await _scrape(base), "chatd_sockets_open") == 0

    await _until(closed)


async def test_refused_handshakes_are_counted_and_logged_once_per_kind(
    start_server, make_settings, caplog
):
    caplog.set_level(logging.WARNING, logger="chatd.realtime.gateway")
    base = await start_server(settings=make_settings(CHATD_METRICS_TOKEN=TOKEN))
    async with aiohttp.ClientSession() as session:
        for _ in range(3):
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await session.ws_connect(base + "ws", headers={"Origin": "https://evil.example"})
            assert refused.value.status == 403
        async with session.ws_connect(base + "ws") as ws:
            await ws.send_json({"type": "hello", "token": "not-a-token"})
            assert (await ws.receive_json())["code"] == "unauthorized"
    samples = await _scrape(base)
    assert _value(samples, "chatd_refusals_total", via="handshake", code="forbidden") == 3
    assert _value(samples, "chatd_refusals_total", via="handshake", code="unauthorized") == 1
    lines = [r.getMessage() for r in caplog.records if r.name == "chatd.realtime.gateway"]
    # A flood of one kind is one line (then one a minute with a count), not one each.
    assert len([line for line in lines if "(forbidden)" in line]) == 1
    assert any("https://evil.example" in line for line in lines)
    assert len([line for line in lines if "(unauthorized)" in line]) == 1


async def test_a_slow_consumer_close_is_counted_and_logged(start_server, make_settings, caplog):
    caplog.set_level(logging.WARNING, logger="chatd.realtime.gateway")
    settings = make_settings(CHATD_METRICS_TOKEN=TOKEN, CHATD_MESSAGE_RATE="10000")
    base = await start_server(settings=settings)
    sender, slow = ChatClient(base), ChatClient(base)
    total, text = 3000, "y" * 3900
    try:
        for client in (sender, slow):
            await client.register()
            await client.connect()

        async def send_all() -> None:
            for _ in range(total):
                await sender.send({"type": "message", "room": "general", "text": text})

        async def acks() -> None:
            seen = 0
            while seen < total:
                seen += (await sender.recv(timeout=20))["type"] == "ack"

        await asyncio.gather(send_all(), acks())  # slow reads nothing meanwhile
        msg = await slow.ws.receive(timeout=20)
        while msg.type == aiohttp.WSMsgType.TEXT:
            msg = await slow.ws.receive(timeout=20)
        assert msg.data == 4008
    finally:
        for client in (sender, slow):
            await client.close()
    assert _value(await _scrape(base), "chatd_slow_consumer_closes_total") == 1
    lines = [r.getMessage() for r in caplog.records if "slow consumer" in r.getMessage()]
    assert len(lines) == 1 and slow.user["username"] in lines[0]


async def test_uploads_and_their_bytes_are_counted(start_server, make_settings):
    base = await start_server(settings=make_settings(CHATD_METRICS_TOKEN=TOKEN))
    alice = ChatClient(base)
    try:
        await alice.register()
        form = aiohttp.FormData()
        form.add_field("file", b"x" * 1000, filename="a.txt", content_type="text/plain")
        form.add_field("file", b"y" * 234, filename="b.txt", content_type="text/plain")
        status, body, _ = await alice.call("POST", "/api/rooms/general/files", data=form)
        assert status == 201, body
    finally:
        await alice.close()
    samples = await _scrape(base)
    assert _value(samples, "chatd_uploads_total") == 2
    assert _value(samples, "chatd_upload_bytes_total") == 1234


async def test_resumes_and_replayed_events_are_counted(start_server, make_settings):
    base = await start_server(settings=make_settings(CHATD_METRICS_TOKEN=TOKEN))
    alice, bob = ChatClient(base), ChatClient(base)
    try:
        await alice.register()
        await bob.register()
        await alice.connect()
        first = await alice.request({"type": "message", "room": "general", "text": "seen"})
        for text in ("missed 1", "missed 2", "missed 3"):
            await alice.request({"type": "message", "room": "general", "text": text})
        await bob.connect(resume={"general": first["seq"]})
        await bob.expect("resumed")
    finally:
        await alice.close()
        await bob.close()
    samples = await _scrape(base)
    assert _value(samples, "chatd_resumes_total") == 1
    assert _value(samples, "chatd_replayed_events_total") == 3


# -- request ids -------------------------------------------------------------------------


async def test_an_incoming_request_id_is_echoed(start_server):
    base = await start_server()
    for path in ("healthz", "api/rooms", "no/such/page"):
        _, _, headers = await _get(base + path, **{"X-Request-Id": "lb-7f3a.42:x_y"})
        assert headers["X-Request-Id"] == "lb-7f3a.42:x_y"


@pytest.mark.parametrize("sent", [None, "", "two words", "x" * 129, 'quote"d', "é"])
async def test_a_missing_or_invalid_request_id_is_replaced_by_a_new_one(start_server, sent):
    base = await start_server()
    headers = {} if sent is None else {"X-Request-Id": sent}
    seen = set()
    for _ in range(2):
        _, _, answer = await _get(base + "healthz", **headers)
        request_id = answer["X-Request-Id"]
        assert request_id and request_id != sent
        assert len(request_id) <= 128 and request_id.isascii()
        seen.add(request_id)
    assert len(seen) == 2  # one per request


async def test_the_websocket_handshake_echoes_the_request_id(start_server):
    base = await start_server()
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(base + "ws", headers={"X-Request-Id": "sock-1"}) as ws,
    ):
        assert ws._response.headers["X-Request-Id"] == "sock-1"


# -- logs of a real process -------------------------------------------------------------------


@pytest.mark.slow
async def test_json_logs_and_access_log_carry_the_request_and_node(tmp_path):
    node = ChatdProcess(
        tmp_path / "data", tmp_path, CHATD_LOG_FORMAT="json", CHATD_ACCESS_LOG="true"
    ).start()
    alice = ChatClient(node.url)
    try:
        await alice.register(unique_name("json"))
        status, _, response = await alice.call(
            "GET", "/api/rooms/general/messages", headers={"X-Request-Id": "trace-me-42"}
        )
        assert status == 200
        assert response.headers["X-Request-Id"] == "trace-me-42"
        assert node.terminate() == 0
    finally:
        await alice.close()
        node.stop_quietly()

    lines = [json.loads(line) for line in node.log_path.read_text().splitlines() if line]
    assert all({"level", "message", "logger", "time", "node"} <= set(line) for line in lines)
    assert len({line["node"] for line in lines}) == 1
    assert any("listening on" in line["message"] for line in lines)
    [access] = [line for line in lines if line.get("request_id") == "trace-me-42"]
    assert access["logger"] == "chatd.access"
    assert access["level"] == "INFO"
    assert access["route"] == "/api/rooms/{room}/messages"
    assert access["status"] == 200
    assert access["method"] == "GET"
    assert access["duration_ms"] >= 0
    assert access["user_id"] == alice.user["id"]
    # Every request is logged, each with an id of its own.
    logged = [line for line in lines if line["logger"] == "chatd.access"]
    assert any(line["route"] == "/api/auth/register" for line in logged)
    assert all(line["request_id"] for line in logged)


@pytest.mark.slow
async def test_text_logs_stay_the_default_without_an_access_log(tmp_path):
    node = ChatdProcess(tmp_path / "data", tmp_path).start()
    try:
        assert node.get("/healthz")[0] == 200
        assert node.terminate() == 0
    finally:
        node.stop_quietly()
    text = node.log_path.read_text()
    assert "listening on" in text
    assert "chatd.access" not in text
    assert not any(line.startswith("{") for line in text.splitlines())


async def test_a_broker_reconnect_is_counted(start_server, make_settings, restartable_redis):
    settings = make_settings(
        broker="redis", REDIS_URL=restartable_redis.url, CHATD_METRICS_TOKEN=TOKEN
    )
    base = await start_server(settings=settings)
    alice = ChatClient(base)
    try:
        await alice.register()
        await alice.connect()  # the node subscribes to her channels
        assert _value(await _scrape(base), "chatd_broker_reconnects_total") == 0
        restartable_redis.stop()
        restartable_redis.start()

        async def reconnected() -> bool:
            return _value(await _scrape(base), "chatd_broker_reconnects_total") == 1

        await _until(reconnected, timeout=30)
    finally:
        await alice.close()
