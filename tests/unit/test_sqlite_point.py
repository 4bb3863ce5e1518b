"""Look-ups of one row by key run on the loop's thread (chatd/store/sqlite_point.py)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from chatd.store.sqlite import SqliteStore
from chatd.store.sqlite_point import PointBusy, PointReader
from chatd.store.sqlite_rows import on_thread
from tests.contract.test_store import a_room


@contextmanager
def held_exclusively(path: Path) -> Iterator[sqlite3.Connection]:
    """Another process's connection holding the file's exclusive lock, so that
    readers get SQLITE_BUSY (rollback journal: a writer in EXCLUSIVE excludes them)."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN EXCLUSIVE")
        yield conn
    finally:
        conn.close()


def a_plain_database(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE rooms (id TEXT PRIMARY KEY, name TEXT)")
        conn.execute("INSERT INTO rooms VALUES ('general', 'General')")
    conn.close()


def test_a_look_up_on_a_busy_file_fails_at_once_instead_of_waiting(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    a_plain_database(path)
    reader = PointReader(path)
    try:
        assert reader.row("SELECT name FROM rooms WHERE id = ?", ("general",))["name"] == "General"
        with held_exclusively(path):
            started = time.monotonic()
            with pytest.raises(PointBusy):
                reader.row("SELECT name FROM rooms WHERE id = ?", ("general",))
            assert time.monotonic() - started < 0.05, "the event loop's thread must not wait"
        assert reader.row("SELECT name FROM rooms WHERE id = ?", ("general",)) is not None
    finally:
        reader.close()


async def test_a_busy_look_up_is_answered_by_the_read_thread_while_the_loop_runs_on(
    tmp_path: Path,
) -> None:
    store = await SqliteStore.open(tmp_path / "chatd.db")
    busy_copy = tmp_path / "busy.db"
    try:
        await store.create_room(a_room("general"))
        # The store's look-ups go to a file another connection holds; the read
        # thread's connection reads the store's own file once its wait is over.
        a_plain_database(busy_copy)
        assert store._points is not None
        store._points.close()
        store._points = PointReader(busy_copy)
        ticks = 0

        async def loop_keeps_running() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.01)

        with held_exclusively(busy_copy):
            ticker = asyncio.create_task(loop_keeps_running())
            room = await store.get_room("general")
            ticker.cancel()
        assert room is not None and room.id == "general"
        assert ticks >= 1
    finally:
        await store.close()


async def test_a_look_up_sees_what_another_connection_committed_just_before(
    tmp_path: Path,
) -> None:
    """No snapshot outlives a look-up: each is its own read transaction."""
    path = tmp_path / "chatd.db"
    store = await SqliteStore.open(path)
    try:
        await store.create_room(a_room("general"))
        assert await store.last_seq("general") == 0
        other = sqlite3.connect(path, isolation_level=None)
        for seq in (1, 2, 3):
            other.execute("UPDATE rooms SET last_seq = ? WHERE id = 'general'", (seq,))
            assert await store.last_seq("general") == seq
        other.close()
    finally:
        await store.close()


async def test_a_look_up_does_not_queue_behind_a_slow_query_on_the_read_thread(
    tmp_path: Path,
) -> None:
    store = await SqliteStore.open(tmp_path / "chatd.db")
    gate = threading.Event()
    try:
        await store.create_room(a_room("general"))
        # The read thread busy for up to 5 s, as with a long search or history page.
        slow = asyncio.ensure_future(on_thread(store._reader, gate.wait, 5))
        room = await asyncio.wait_for(store.get_room("general"), timeout=1)
        assert room is not None and room.id == "general"
        assert not slow.done()
    finally:
        gate.set()
        await slow
        await store.close()
