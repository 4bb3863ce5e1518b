"""A chatd process's life: the drain on SIGTERM, start-up failures, one server per data dir."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.client import ChatClient
from tests.integration.processes import ChatdProcess

pytestmark = pytest.mark.slow

#: The drain the SIGTERM test asks for: long enough to probe the node during it.
DRAIN_SECONDS = 2.0


@pytest.fixture
def nodes(tmp_path):
    started: list[ChatdProcess] = []

    def make(data_dir: Path | None = None, **env: str) -> ChatdProcess:
        node = ChatdProcess(data_dir or tmp_path / "data", tmp_path, **env)
        started.append(node)
        return node

    yield make
    for node in started:
        node.stop_quietly()


def run_to_exit(node: ChatdProcess) -> subprocess.CompletedProcess[str]:
    """Run the node's command in the foreground: for starts that must fail."""
    return subprocess.run(
        [sys.executable, "-m", "chatd", "--host", "127.0.0.1", "--port", str(node.port)],
        env=node.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def assert_fails_in_one_line(result: subprocess.CompletedProcess[str], *named: str) -> None:
    """Exit 2 and one `chatd: ...` line naming the cause, with no traceback from any
    part (the cleanup contexts unwind cleanly: no athrow error either)."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "athrow" not in result.stderr, result.stderr
    assert " ERROR " not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("chatd: ")]
    assert len(lines) == 1, result.stderr
    for words in named:
        assert words in lines[0], lines[0]
    assert "listening" not in result.stdout


# -- SIGTERM: drain, then close ------------------------------------------------------
async def test_sigterm_says_not_ready_while_serving_then_closes_with_1001_and_exits_0(nodes):
    node = nodes(CHATD_DRAIN_SECONDS=str(DRAIN_SECONDS)).start()
    alice = ChatClient(node.url)
    try:
        await alice.register()
        await alice.connect()
        assert node.get("/readyz")[0] == 200
        node.proc.send_signal(15)
        signalled = time.monotonic()
        while node.get("/readyz")[0] != 503:
            assert time.monotonic() - signalled < 1.0, node.log()
            await asyncio.sleep(0.02)
        # Still serving: liveness, and the open socket both ways.
        assert node.get("/healthz")[0] == 200
        ack = await alice.request({"type": "message", "room": "general", "text": "still here"})
        assert ack["type"] == "ack"
        assert node.proc.poll() is None

        code, _ = await alice.closed(timeout=DRAIN_SECONDS + 10)
        assert code == 1001
        assert time.monotonic() - signalled >= DRAIN_SECONDS - 0.2
        assert node.proc.wait(15) == 0
    finally:
        await alice.close()
    log = node.log()
    assert "draining: /readyz answers 503 for 2 s" in log
    assert "closing 1 sockets with 1001" in log


async def test_a_drain_of_0_closes_at_once(nodes):
    node = nodes(CHATD_DRAIN_SECONDS="0").start()
    alice = ChatClient(node.url)
    try:
        await alice.register()
        await alice.connect()
        node.proc.send_signal(15)
        signalled = time.monotonic()
        code, _ = await alice.closed(timeout=10)
        assert code == 1001
        assert time.monotonic() - signalled < 1.5
        assert node.proc.wait(15) == 0
    finally:
        await alice.close()


# -- start-up failures: one line, exit 2 -----------------------------------------------
def test_a_port_in_use_fails_in_one_line(nodes):
    node = nodes()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", node.port))
        taken.listen()
        result = run_to_exit(node)
    assert_fails_in_one_line(result, f"cannot listen on 127.0.0.1:{node.port}", "in use")


@pytest.mark.parametrize("broker", ["embedded", "redis"])
def test_an_unusable_data_dir_fails_in_one_line(nodes, tmp_path, broker, request):
    """A file where the data dir should be; the secret is set, so settings pass."""
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file")
    env = {} if broker == "embedded" else {"REDIS_URL": request.getfixturevalue("redis_url")}
    result = run_to_exit(nodes(blocker, **env))
    assert_fails_in_one_line(result, "cannot")


def test_s3_without_credentials_fails_in_one_line_and_closes_the_store(
    nodes, tmp_path, s3_endpoint
):
    """The S3 client finds no credentials while the app starts (after the store,
    broker and file store opened): the contexts already open unwind cleanly."""
    node = nodes(
        S3_BUCKET="chatd-test-no-credentials",
        S3_ENDPOINT_URL=s3_endpoint,
        HOME=str(tmp_path),  # no ~/.aws of the machine running the tests
        AWS_EC2_METADATA_DISABLED="true",  # nor an instance role
    )
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        node.env.pop(name, None)
    assert_fails_in_one_line(run_to_exit(node), "cannot start", "credentials")


# -- one embedded server per data dir --------------------------------------------------
def test_a_second_embedded_server_on_the_data_dir_refuses_to_start(nodes, tmp_path):
    first = nodes().start()
    result = run_to_exit(nodes())
    assert_fails_in_one_line(result, "in use by another chatd", str(tmp_path / "data"))
    assert first.get("/readyz")[0] == 200
    assert first.terminate() == 0
    nodes().start()  # the lock went with the first process


def test_with_redis_several_servers_share_the_data_dir(nodes, redis_url):
    for _ in range(2):
        nodes(REDIS_URL=redis_url).start()
