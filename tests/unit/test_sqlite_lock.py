"""The cross-process write lock of the SQLite store (chatd/store/sqlite_lock.py)."""

from __future__ import annotations

import asyncio
import fcntl
import os
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from chatd.store.sqlite import SqliteStore
from chatd.store.sqlite_lock import WriteLock
from tests.contract.test_store import a_message, a_room


def test_a_waiting_writer_gets_the_lock_as_soon_as_it_is_released(tmp_path: Path) -> None:
    holder, waiter = WriteLock(tmp_path / "x.db", 5), WriteLock(tmp_path / "x.db", 5)
    holder.open()
    waiter.open()
    holder.acquire()
    acquired = threading.Event()

    def wait() -> None:
        with waiter:
            acquired.set()

    thread = threading.Thread(target=wait)
    thread.start()
    assert not acquired.wait(0.1)  # held by the other "process"
    released_at = time.monotonic()
    holder.release()
    assert acquired.wait(5)
    assert time.monotonic() - released_at < 0.05  # not SQLite's 100 ms sleeps
    thread.join()
    holder.close()
    waiter.close()


def test_a_lock_held_past_the_timeout_fails_like_sqlite_does(tmp_path: Path) -> None:
    holder, waiter = WriteLock(tmp_path / "x.db", 5), WriteLock(tmp_path / "x.db", 0.05)
    holder.open()
    waiter.open()
    holder.acquire()
    with pytest.raises(sqlite3.OperationalError, match="database is locked"):
        waiter.acquire()
    holder.release()
    waiter.acquire()  # free again
    waiter.release()
    holder.close()
    waiter.close()


async def test_the_store_writes_only_while_no_other_process_holds_the_lock(
    tmp_path: Path,
) -> None:
    path = tmp_path / "chatd.db"
    store = await SqliteStore.open(path)
    try:
        await store.create_room(a_room("general"))
        user = await store.create_user("Alice", "hash")
        # Another process (here: another open file description) holds the lock,
        # first while a message is appended (group commit), then while a user is
        # created (a transaction of several statements): each waits for it.
        writes = [
            lambda: store.append_message(a_message("general", user, "hi")),
            lambda: store.create_user("Bob", "hash"),
        ]
        for write in writes:
            fd = os.open(f"{path}.lock", os.O_RDWR)
            fcntl.flock(fd, fcntl.LOCK_EX)
            pending = asyncio.ensure_future(write())
            await asyncio.sleep(0.3)
            assert not pending.done()
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
            await asyncio.wait_for(pending, 5)
        assert await store.last_seq("general") == 1
        assert (await store.get_user_by_name("Bob")) is not None
    finally:
        await store.close()
