"""`chatd backup`, `chatd restore` and `chatd epoch`, as real processes next to a
real server: a backup taken while messages are being posted restores into a fresh
data dir with everything up to it; a running server's data dir is never restored
over; every restore gives the store a new epoch."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.client import ChatClient
from tests.integration.processes import ChatdProcess
from tests.integration.test_migrate import RUN_TIMEOUT_SECONDS, mongo_uri, one_line

pytestmark = pytest.mark.slow

__all__ = ["mongo_uri"]  # the fixture, shared with test_migrate

#: The data dir keeps its own secret (as a bare install does), so the backup has
#: one; and a writer may post as fast as it can (the default allows 5 a second).
NODE_ENV = {"CHATD_SECRET_KEY": "", "CHATD_MESSAGE_RATE": "100000"}


def run_chatd(data_dir: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`chatd <args>` as a process with a node's environment for `data_dir`."""
    node = ChatdProcess(data_dir, data_dir.parent, **{**NODE_ENV, **env})
    return subprocess.run(
        [sys.executable, "-m", "chatd", *args],
        check=False,
        env=node.env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SECONDS,
    )


def node_on(data_dir: Path) -> ChatdProcess:
    return ChatdProcess(data_dir, data_dir.parent, **NODE_ENV)


async def history(client: ChatClient, room: str) -> list[dict[str, Any]]:
    """Every message of the room, oldest first (page by page)."""
    messages: list[dict[str, Any]] = []
    while True:
        after = messages[-1]["seq"] if messages else 0
        path = f"/api/rooms/{room}/messages?limit=100&after={after}"
        status, body, _ = await client.call("GET", path)
        assert status == 200, body
        if not body["messages"]:
            return messages
        messages += body["messages"]


async def upload(client: ChatClient, room: str, name: str, data: bytes) -> dict[str, Any]:
    form = aiohttp.FormData(default_to_multipart=True)
    form.add_field("file", data, filename=name, content_type="application/octet-stream")
    status, body, _ = await client.call("POST", f"/api/rooms/{room}/files", data=form)
    assert status == 201, body
    message: dict[str, Any] = body["message"]
    return message


async def download(client: ChatClient, path: str) -> tuple[int, bytes]:
    headers = {"Authorization": f"Bearer {client.token}"}
    async with client.session.get(client.base_url + path, headers=headers) as response:
        return response.status, await response.read()


async def test_a_backup_taken_while_a_server_writes_restores_into_a_fresh_data_dir(
    tmp_path: Path,
) -> None:
    data, backup_dir, fresh = tmp_path / "data", tmp_path / "backup", tmp_path / "fresh"
    node = node_on(data).start()
    alice = ChatClient(node.url)
    try:
        await alice.register()
        ready = await alice.connect()
        await alice.request({"type": "join", "room": "ops"})
        payload = bytes(range(256)) * 64
        with_file = await upload(alice, "ops", "blob.bin", payload)

        acked: list[int] = []
        stop = asyncio.Event()

        async def keep_posting() -> None:
            while not stop.is_set():
                ack = await alice.request({"type": "message", "room": "ops", "text": "busy"})
                acked.append(ack["seq"])

        writer = asyncio.create_task(keep_posting())
        while len(acked) < 20:
            assert not writer.done(), writer.result()
            await asyncio.sleep(0.01)
        acked_before_backup = list(acked)
        made = await asyncio.to_thread(run_chatd, data, "backup", str(backup_dir))
        acked_during = len(acked) - len(acked_before_backup)
        stop.set()
        await asyncio.wait_for(writer, 10)
        assert made.returncode == 0, made.stderr
        assert "backed up" in one_line(made.stdout) and made.stderr == ""
        assert acked_during > 0, "the server kept taking messages while the backup ran"
    finally:
        await alice.close()
        node.stop_quietly()

    restored = run_chatd(fresh, "restore", str(backup_dir))
    assert restored.returncode == 0, restored.stderr
    assert "new epoch" in one_line(restored.stdout)

    node = node_on(fresh).start()
    # The same token: the secret came back with the backup.
    again = ChatClient(node.url)
    again.token, again.user = alice.token, alice.user
    try:
        new_ready = await again.connect()
        assert new_ready["epoch"] != ready["epoch"]
        seqs = [m["seq"] for m in await history(again, "ops")]
        assert set(acked_before_backup) <= set(seqs)
        # One snapshot: the seqs restored run without a gap, up to where it was taken.
        assert seqs == list(range(seqs[0], seqs[-1] + 1))
        assert seqs[-1] <= acked[-1]
        assert await download(again, with_file["files"][0]["url"]) == (200, payload)
    finally:
        await again.close()
        node.terminate()


async def test_restore_is_refused_while_a_server_uses_the_data_dir(tmp_path: Path) -> None:
    data, backup_dir = tmp_path / "data", tmp_path / "backup"
    node = node_on(data).start()
    try:
        made = run_chatd(data, "backup", str(backup_dir))
        assert made.returncode == 0, made.stderr

        refused = run_chatd(data, "restore", str(backup_dir))
        assert refused.returncode == 2
        assert "stop every server" in one_line(refused.stderr) and refused.stdout == ""
        assert node.get("/readyz")[0] == 200, "the running server was left alone"
    finally:
        assert node.terminate() == 0

    before = one_line(run_chatd(data, "epoch").stdout)
    restored = run_chatd(data, "restore", str(backup_dir))
    assert restored.returncode == 0, restored.stderr
    after = one_line(run_chatd(data, "epoch").stdout)
    assert before != after and after.split()[-1] in restored.stdout


def test_backup_refuses_a_used_directory_and_restore_an_unfinished_backup(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    assert run_chatd(data, "migrate").returncode == 0
    taken = tmp_path / "taken"
    (taken / "something").mkdir(parents=True)
    refused = run_chatd(data, "backup", str(taken))
    assert refused.returncode == 2 and "not empty" in one_line(refused.stderr)

    unfinished = run_chatd(data, "restore", str(taken))
    assert unfinished.returncode == 2 and "no finished backup" in one_line(unfinished.stderr)


def test_epoch_new_renews_a_mongodb_store_and_backup_points_to_its_tools(
    tmp_path: Path, mongo_uri: str
) -> None:
    data = tmp_path / "data"
    mongo = {"MONGODB_URI": mongo_uri, "CHATD_SECRET_KEY": "x" * 32}
    first = run_chatd(data, "epoch", **mongo)
    assert first.returncode == 0, first.stderr
    renewed = run_chatd(data, "epoch", "--new", **mongo)
    assert renewed.returncode == 0, renewed.stderr
    now = run_chatd(data, "epoch", **mongo)
    assert one_line(renewed.stdout) == one_line(now.stdout) != one_line(first.stdout)

    refused = run_chatd(data, "backup", str(tmp_path / "b"), **mongo)
    assert refused.returncode == 2 and "mongodump" in one_line(refused.stderr)
