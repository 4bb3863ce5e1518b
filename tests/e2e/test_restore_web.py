"""An open tab across a stop, `chatd restore` and start: the store's seqs went back,
and the tab must notice the new epoch and reload instead of dropping new messages
whose seqs it saw before the restore."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.e2e.conftest import (
    Browsers,
    enter_room,
    message_texts,
    send,
    unique_name,
    wait_for_message,
)
from tests.integration.processes import ChatdProcess

NODE_ENV = {"CHATD_SECRET_KEY": "", "CHATD_MESSAGE_RATE": "1000", "CHATD_REGISTER_LIMIT": "100000"}


@pytest.fixture
def node(tmp_path: Path) -> Iterator[ChatdProcess]:
    """A chatd process of this test's own, which it stops and starts on one port."""
    process = ChatdProcess(tmp_path / "data", tmp_path, **NODE_ENV).start()
    try:
        yield process
    finally:
        process.stop_quietly()


def chatd(node: ChatdProcess, *args: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "chatd", *args],
        check=False,
        env=node.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr


def test_an_open_tab_shows_every_message_sent_after_a_restore(
    browser: Browser, node: ChatdProcess, tmp_path: Path
) -> None:
    users = Browsers(browser, node.url + "/")
    try:
        alice, _ = users.signup("alice")
        bob, _ = users.signup("bob")
        room = unique_name("restored")
        enter_room(alice, room)
        enter_room(bob, room)
        send(bob, "kept by the backup")
        wait_for_message(alice, "kept by the backup")
        chatd(node, "backup", str(tmp_path / "backup"))

        for i in range(3):
            send(bob, f"lost with the restore {i}")
            wait_for_message(alice, f"lost with the restore {i}")
        assert node.terminate() == 0
        chatd(node, "restore", str(tmp_path / "backup"))
        node.start()

        for page in (alice, bob):
            expect(page.locator(".conn-banner")).to_be_hidden(timeout=30_000)
        # These take the seqs the "lost" ones had: a tab that kept its seqs drops them.
        for i in range(3):
            send(bob, f"after the restore {i}")
        for i in range(3):
            wait_for_message(alice, f"after the restore {i}")
        texts = message_texts(alice)
        assert "kept by the backup" in texts
        assert not [t for t in texts if t.startswith("lost with the restore")], texts
    finally:
        users.close()
    assert not users.errors, users.errors
