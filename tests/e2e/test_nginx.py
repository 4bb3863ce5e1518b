"""docs/deploy/nginx.conf, as the docs show it, in front of two chatd nodes.

Debian's nginx runs as an ordinary foreground process on a free loopback port
with the docs' file included verbatim except for the addresses (upstream
nodes, listen port). Two people chat through it in Chromium; one node is
stopped mid-conversation; their clients reconnect through nginx to the other
node and every message arrives exactly once on both sides.
"""

from __future__ import annotations

import os
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Browser

from tests.e2e.conftest import PASSWORD, Browsers, send, unique_name, wait_for_message
from tests.fixtures.http import answers_200
from tests.fixtures.ports import free_port
from tests.integration.processes import ChatdProcess

NGINX = "/usr/sbin/nginx"
DOCS_CONFIG = Path(__file__).resolve().parents[2] / "docs" / "deploy" / "nginx.conf"
MiB = 1024 * 1024


def site_config(node_ports: tuple[int, int], listen_port: int) -> str:
    """The docs' file with only its addresses replaced (each must occur exactly once)."""
    text = DOCS_CONFIG.read_text()
    for old, new in (
        ("server chatd1:8080 ", f"server 127.0.0.1:{node_ports[0]} "),
        ("server chatd2:8080 ", f"server 127.0.0.1:{node_ports[1]} "),
        ("    listen 80;", f"    listen 127.0.0.1:{listen_port};"),
    ):
        assert text.count(old) == 1, f"docs/deploy/nginx.conf no longer has {old!r}"
        text = text.replace(old, new)
    return text


def main_config(workdir: Path, site: Path) -> str:
    """What /etc/nginx/nginx.conf provides around a site file, kept inside `workdir`."""
    # As root, nginx would switch its workers to `nobody`, who cannot enter the
    # test's private temporary directory; as any other user it ignores `user`.
    user = "user root;" if os.geteuid() == 0 else ""
    return f"""
{user}
daemon off;
worker_processes 1;
pid {workdir}/nginx.pid;
error_log {workdir}/error.log info;
events {{ worker_connections 512; }}
http {{
    log_format upstream '$request_uri $status $upstream_addr';
    access_log {workdir}/access.log upstream;
    client_body_temp_path {workdir}/body;
    proxy_temp_path {workdir}/proxy;
    fastcgi_temp_path {workdir}/fastcgi;
    uwsgi_temp_path {workdir}/uwsgi;
    scgi_temp_path {workdir}/scgi;
    include {site};
}}
"""


@dataclass
class Cluster:
    url: str
    nodes: tuple[ChatdProcess, ChatdProcess]
    workdir: Path

    def access_log(self) -> str:
        return (self.workdir / "access.log").read_text()


@pytest.fixture
def cluster(tmp_path: Path, redis_url: str) -> Iterator[Cluster]:
    if not Path(NGINX).exists():
        pytest.fail(f"{NGINX} is missing: apt-get install nginx (scripts/test does)")
    env = {"REDIS_URL": redis_url, "CHATD_MESSAGE_RATE": "1000", "CHATD_TRUST_PROXY": "true"}
    nodes = (
        ChatdProcess(tmp_path / "shared", tmp_path, **env),
        ChatdProcess(tmp_path / "shared", tmp_path, **env),
    )
    workdir = tmp_path / "nginx"
    workdir.mkdir()
    port = free_port()
    site = workdir / "chatd.conf"
    site.write_text(site_config((nodes[0].port, nodes[1].port), port))
    config = workdir / "nginx.conf"
    config.write_text(main_config(workdir, site))
    nginx: subprocess.Popen[bytes] | None = None
    try:
        for node in nodes:
            node.start()
        nginx = subprocess.Popen(
            [NGINX, "-p", str(workdir), "-e", str(workdir / "error.log"), "-c", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}/"
        if not answers_200(url + "readyz", nginx, timeout=10):
            error_log = (workdir / "error.log").read_text()
            raise RuntimeError(f"nginx did not start: {error_log}")
        yield Cluster(url, nodes, workdir)
    finally:
        if nginx is not None:
            nginx.terminate()
            nginx.wait(10)
        for node in nodes:
            node.stop_quietly()


@pytest.fixture
def people(browser: Browser, cluster: Cluster) -> Iterator[Browsers]:
    b = Browsers(browser, cluster.url)
    try:
        yield b
    finally:
        b.close()
    assert not b.errors, f"uncaught errors in the page: {b.errors}"


def served(cluster: Cluster, request: str, node: ChatdProcess) -> int:
    """How many logged `request`s (`/ws 101`) the node served in the end.

    $upstream_addr lists every node tried (`A, B` when A refused), last the one
    that answered.
    """
    address = f"127.0.0.1:{node.port}"
    return sum(
        1
        for line in cluster.access_log().splitlines()
        if line.startswith(request + " ") and line.rsplit(" ", 1)[-1] == address
    )


def wait_until_nginx_uses(cluster: Cluster, node: ChatdProcess, timeout: float = 30) -> None:
    """A restarted node gets traffic again once its fail_timeout has passed."""
    seen = served(cluster, "/readyz 200", node)
    deadline = time.monotonic() + timeout
    while served(cluster, "/readyz 200", node) == seen:
        assert time.monotonic() < deadline, f"nginx never sent a request to {node.url}"
        with urllib.request.urlopen(cluster.url + "readyz", timeout=5) as response:
            assert response.status == 200
        time.sleep(0.2)


def test_two_people_chat_through_nginx_across_a_rolling_restart(
    cluster: Cluster, people: Browsers
) -> None:
    alice, _ = people.signup("nginx-alice-")
    bob, _ = people.signup("nginx-bob-")
    said: list[str] = []

    def exchange(label: str) -> None:
        """Each says something (possibly while reconnecting); all of it arrives once."""
        for who, page in (("alice", alice), ("bob", bob)):
            text = f"{label} from {who} {unique_name('m')}"
            send(page, text)
            said.append(text)
        for text in said:  # each exactly once, on both sides
            wait_for_message(alice, text)
            wait_for_message(bob, text)

    first, second = cluster.nodes
    exchange("both up")

    # First node down: whoever was on it reconnects through nginx to the second.
    assert first.terminate() == 0
    exchange("first down")

    # First node back; then the second goes, with both sockets surely on it.
    first.start()
    wait_until_nginx_uses(cluster, first)
    # (nginx logs a WebSocket when it closes.)
    moved_before = served(cluster, "/ws 101", second)
    assert second.terminate() == 0
    exchange("second down")
    exchange("after")
    assert served(cluster, "/ws 101", second) == moved_before + 2, cluster.access_log()


def test_an_upload_bigger_than_nginx_default_goes_through(cluster: Cluster) -> None:
    """nginx refuses bodies over 1 MB by default, before chatd sees them (413)."""
    session = requests.Session()
    response = session.post(
        cluster.url + "api/auth/register",
        json={"username": unique_name("nginx-up-"), "password": PASSWORD},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    token = response.json()["access_token"]
    blob = os.urandom(3 * MiB)
    response = session.post(
        cluster.url + "api/rooms/general/files",
        headers={"Authorization": f"Bearer {token}"},
        files=[("file", ("big.bin", blob, "application/octet-stream"))],
        timeout=30,
    )
    assert response.status_code == 201, response.text[:500]


def test_the_test_uses_the_docs_config() -> None:
    """Nothing but addresses differ between what is tested and what is shown."""
    shown = DOCS_CONFIG.read_text()
    tested = site_config((1111, 2222), 3333)
    differing = [
        (a, b) for a, b in zip(shown.splitlines(), tested.splitlines(), strict=True) if a != b
    ]
    assert len(differing) == 3
