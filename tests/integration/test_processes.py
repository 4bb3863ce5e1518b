"""chatd as a real process: start-up checks, restarts, SIGTERM, and a broker that is down."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time

import aiohttp
import pytest

from tests.client import ChatClient
from tests.integration.processes import ChatdProcess

pytestmark = pytest.mark.slow


@pytest.fixture
def nodes(tmp_path):
    started: list[ChatdProcess] = []

    def make(data_dir=None, **env: str) -> ChatdProcess:
        node = ChatdProcess(data_dir or tmp_path / "data", tmp_path, **env)
        started.append(node)
        return node

    yield make
    for node in started:
        node.stop_quietly()


async def test_embedded_defaults_keep_users_and_messages_across_a_restart(nodes):
    node = nodes().start()
    alice = ChatClient(node.url)
    try:
        await alice.register()
        name = alice.user["username"]
        await alice.connect()
        ack = await alice.request({"type": "message", "room": "general", "text": "remember me"})
        assert ack["type"] == "ack"
    finally:
        await alice.close()
    assert node.terminate() == 0

    node.start()
    again = ChatClient(node.url)
    try:
        assert (await again.login(name))[0] == 200
        status, body, _ = await again.call("GET", "/api/rooms/general/messages")
        assert status == 200
        assert [m["text"] for m in body["messages"]][-1] == "remember me"
    finally:
        await again.close()


async def test_sigterm_closes_sockets_with_going_away_and_exits_0(nodes):
    node = nodes().start()
    alice = ChatClient(node.url)
    try:
        await alice.register()
        await alice.connect()
        node.proc.send_signal(15)
        code, _ = await alice.closed(timeout=10)
        assert code == 1001
        assert node.proc.wait(15) == 0
    finally:
        await alice.close()


def test_a_bad_setting_stops_start_up_with_one_line_naming_it(tmp_path):
    cases = {
        "REDIS_URL": ("http://127.0.0.1:6379", "REDIS_URL"),
        "MONGODB_URI": ("mongodb://127.0.0.1:notaport/db", "MONGODB_URI"),
        "PORT": ("99999", "PORT"),
        "CHATD_ALLOWED_ORIGINS": ("not an origin", "CHATD_ALLOWED_ORIGINS"),
    }
    for variable, (value, named) in cases.items():
        env = {"CHATD_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin", variable: value}
        result = subprocess.run(
            [sys.executable, "-m", "chatd"],
            check=False,
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert result.returncode == 2, (variable, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and named in lines[0], (variable, result.stderr)
        assert "Traceback" not in result.stderr


def test_a_shared_deployment_refuses_to_start_without_a_real_secret(tmp_path):
    env = {"CHATD_DATA_DIR": str(tmp_path), "REDIS_URL": "redis://127.0.0.1:1"}
    for secret in (None, "too-short"):
        run_env = dict(env) if secret is None else {**env, "CHATD_SECRET_KEY": secret}
        result = subprocess.run(
            [sys.executable, "-m", "chatd"],
            check=False,
            env=run_env,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert result.returncode == 2
        assert "CHATD_SECRET_KEY" in result.stderr and "Traceback" not in result.stderr


async def test_redis_down_at_start_is_reported_by_readyz_and_recovers(nodes, restartable_redis):
    restartable_redis.stop()
    node = nodes(REDIS_URL=restartable_redis.url).start()
    status, body = node.get("/readyz")
    assert status == 503
    report = json.loads(body)
    assert report["checks"]["store"] == "ok" and report["checks"]["files"] == "ok"
    assert "redis" in report["checks"]["broker"] and "refused" in report["checks"]["broker"]
    assert node.get("/healthz")[0] == 200

    restartable_redis.start()
    deadline = time.monotonic() + 15
    while node.get("/readyz")[0] != 200:
        assert time.monotonic() < deadline, node.log()
        await asyncio.sleep(0.2)
    # And it serves real traffic through the broker once Redis is there.
    alice = ChatClient(node.url)
    try:
        await alice.register()
        await alice.connect()
        ack = await alice.request({"type": "message", "room": "general", "text": "back"})
        await alice.expect("message", id=ack["id"])
    finally:
        await alice.close()
    assert node.proc.poll() is None


def test_redis_on_a_dead_port_starts_and_says_why(nodes):
    node = nodes(REDIS_URL="redis://127.0.0.1:1").start()
    status, body = node.get("/readyz")
    assert status == 503
    assert "127.0.0.1:1" in json.loads(body)["checks"]["broker"]
    assert node.proc.poll() is None


async def test_the_run_command_serves_the_web_client_and_docs(nodes):
    node = nodes().start()
    async with aiohttp.ClientSession() as session:
        for path in ("/", "/api/docs", "/api/openapi.json", "/healthz", "/readyz"):
            async with session.get(node.url + path) as response:
                assert response.status == 200, path
