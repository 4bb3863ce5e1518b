"""WAL checkpoints of the SQLite store run in the background (chatd/store/sqlite_checkpoint.py)."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import time
from pathlib import Path

from chatd.store.sqlite import SqliteStore
from tests.contract.test_store import a_message, a_room


def messages_in_the_database_file_itself(path: Path, scratch: Path) -> int | None:
    """Messages in `path` without its write-ahead log: what checkpoints copied there.

    A copy of the file alone, since SQLite opening the file itself would read
    the log too. None when the copy caught a checkpoint mid-write.
    """
    shutil.copyfile(path, scratch)
    try:
        with sqlite3.connect(scratch) as conn:
            return int(conn.execute("SELECT count(*) FROM messages").fetchone()[0])
    except sqlite3.DatabaseError:
        return None
    finally:
        scratch.unlink()


async def test_committed_messages_reach_the_database_file_soon_without_a_commit_copying_them(
    tmp_path: Path,
) -> None:
    path = tmp_path / "chatd.db"
    store = await SqliteStore.open(path)
    try:
        await store.create_room(a_room("general"))
        user = await store.create_user("Alice", "hash")
        # ~50 commits: far below the 1,000 log pages at which a commit would
        # copy them into the file itself (SQLite's default), so only the
        # background checkpoints can have put them there.
        for n in range(50):
            await store.append_message(a_message("general", user, f"message {n}"))
        deadline = time.monotonic() + 5
        copied = None
        while copied != 50 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            copied = messages_in_the_database_file_itself(path, tmp_path / "copy.db")
        assert copied == 50
    finally:
        await store.close()


async def test_the_store_closes_at_once_right_after_writes(tmp_path: Path) -> None:
    # Closing while the checkpoint thread is between a wake-up and its next
    # wait must still stop it (it once cleared the stop signal and slept on).
    for round_ in range(20):
        store = await SqliteStore.open(tmp_path / "chatd.db")
        if round_ == 0:
            await store.create_room(a_room("general"))
        user = await store.create_user(f"user{round_}", "hash")
        await store.append_message(a_message("general", user))
        await asyncio.sleep(0.002 * (round_ % 5))  # land at different points
        async with asyncio.timeout(5):
            await store.close()
