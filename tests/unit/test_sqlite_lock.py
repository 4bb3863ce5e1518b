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
        # Another process (here: another open file description) holds the lock.
        fd = os.open(f"{path}.lock", os.O_RDWR)
        fcntl.flock(fd, fcntl.LOCK_EX)
        append = asyncio.ensure_future(store.append_message(a_message("general", user, "hi")))
        create = asyncio.ensure_future(store.create_user("Bob", "hash"))
        await asyncio.sleep(0.3)
        assert not append.done() and not create.done()
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
        message, _ = await asyncio.wait_for(append, 5)
        assert message.seq == 1
        assert (await asyncio.wait_for(create, 5)).username == "Bob"
    finally:
        await store.close()
