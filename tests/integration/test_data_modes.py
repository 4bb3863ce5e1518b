"""The data dir is chatd's alone (issue #18, D16): real files, real modes, on each store.

chatd.db holds password hashes and every message, `files/` every upload: after a
real start and an upload, every directory chatd made is 0700 and every file 0600,
whatever the process umask lets through by default.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chatd.settings import Settings
from tests import images
from tests.client import ChatClient
from tests.integration.test_files import upload

#: The common default umask: without per-file modes, files come out 0644 and dirs 0755.
USUAL_UMASK = 0o022


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    previous = os.umask(USUAL_UMASK)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def modes_under(root: Path) -> dict[str, int]:
    """Every file and directory below `root` (itself included), by relative path."""
    found = {".": mode(root)}
    for path in root.rglob("*"):
        found[str(path.relative_to(root))] = mode(path)
    return found


def settings_for(make_settings: Any, store_backend: str, **env: str) -> Settings:
    # Embedded SQLite generates and keeps its secret; a Mongo node must be given one.
    if store_backend == "sqlite":
        env["CHATD_SECRET_KEY"] = ""
    settings: Settings = make_settings(store=store_backend, **env)
    return settings


async def start_and_upload(start_server: Any, settings: Settings) -> None:
    """A real start, and an upload that stores a file and its thumbnail."""
    alice = ChatClient(await start_server(settings=settings))
    try:
        await alice.register()
        status, body, _ = await upload(alice, "general", [("red.png", images.png(), "image/png")])
        assert status == 201, body
        assert body["message"]["files"][0]["thumbUrl"]
    finally:
        await alice.close()


async def test_everything_chatd_creates_is_owner_only(
    start_server: Any, make_settings: Any, store_backend: str
) -> None:
    settings = settings_for(make_settings, store_backend)

    await start_and_upload(start_server, settings)

    found = modes_under(settings.data_dir)
    directories = {p for p in found if (settings.data_dir / p).is_dir()}
    stored = [p for p in found if p.startswith("files/") and p not in directories]
    assert len(stored) == 2, found  # the upload and its thumbnail
    if store_backend == "sqlite":
        expected = {"chatd.db", "chatd.db-wal", "chatd.db-shm", "chatd.db.lock", "secret_key"}
        assert expected <= set(found), found
    assert {p: m for p, m in found.items() if p in directories and m != 0o700} == {}
    assert {p: m for p, m in found.items() if p not in directories and m != 0o600} == {}


async def test_an_older_looser_layout_is_tightened_and_the_data_dir_warned_about(
    start_server: Any,
    make_settings: Any,
    store_backend: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = settings_for(make_settings, store_backend)
    data_dir = settings.data_dir
    data_dir.chmod(0o755) if data_dir.exists() else data_dir.mkdir(0o755)
    (data_dir / "files" / "files" / "general").mkdir(0o755, parents=True)
    (data_dir / "files").chmod(0o755)
    (data_dir / "files" / "files" / "general" / "old").write_bytes(b"an older version's upload")
    if store_backend == "sqlite":
        sqlite3.connect(settings.sqlite_path).close()
        for name in ("chatd.db", "secret_key"):
            (data_dir / name).chmod(0o644)

    with caplog.at_level(logging.WARNING, logger="chatd.util.private_files"):
        # Settings read (and keep) the secret: loaded again, as a restart would.
        settings = settings_for(make_settings, store_backend, CHATD_DATA_DIR=str(data_dir))
        await start_and_upload(start_server, settings)

    assert mode(data_dir) == 0o755  # the operator's directory: warned about, not changed
    [warning] = [r.getMessage() for r in caplog.records if r.name == "chatd.util.private_files"]
    assert str(data_dir) in warning and "0755" in warning
    assert mode(data_dir / "files") == 0o700  # chatd's own: closes everything below it
    if store_backend == "sqlite":
        assert mode(settings.sqlite_path) == 0o600
        assert mode(data_dir / "secret_key") == 0o600
        assert mode(data_dir / "chatd.db-wal") == 0o600
