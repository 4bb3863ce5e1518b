"""SqliteThread: one connection, used on its one thread, calls in the order made."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from chatd.store.base import StoreError
from chatd.store.sqlite_thread import SqliteThread

#: How long a test waits for a thread to take up or finish a call.
WAIT_SECONDS = 5


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[SqliteThread]:
    db = await SqliteThread.open(tmp_path / "thread.db", "sqlite-test")
    yield db
    await db.close()


def _held(conn: sqlite3.Connection, started: threading.Event, go_on: threading.Event) -> str:
    started.set()
    assert go_on.wait(WAIT_SECONDS)
    conn.execute("INSERT INTO log (entry) VALUES ('held')")
    return "done"


def _entries(conn: sqlite3.Connection) -> list[str]:
    return [row["entry"] for row in conn.execute("SELECT entry FROM log ORDER BY rowid")]


async def _wait_for(event: threading.Event) -> None:
    assert await asyncio.to_thread(event.wait, WAIT_SECONDS)


async def _thread_gone(name: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while any(t.name == name for t in threading.enumerate()):
        assert time.monotonic() < deadline, f"thread {name} is still running"
        await asyncio.sleep(0.01)


async def test_calls_run_on_one_thread_of_its_own_in_the_order_made(db: SqliteThread) -> None:
    def where(conn: sqlite3.Connection, n: int) -> tuple[int, int]:
        time.sleep(0.001 * (n % 3))  # uneven work must not reorder anything
        conn.execute("INSERT INTO log (entry) VALUES (?)", (str(n),))
        return threading.get_ident(), n

    await db.execute("CREATE TABLE log (entry TEXT)")
    results = await asyncio.gather(*(db.run(where, n) for n in range(20)))

    threads = {thread for thread, _ in results}
    assert len(threads) == 1
    assert threads != {threading.get_ident()}
    assert await db.run(_entries) == [str(n) for n in range(20)]


async def test_executemany_and_errors_come_back_as_sqlite_raised_them(db: SqliteThread) -> None:
    await db.execute("CREATE TABLE log (entry TEXT UNIQUE)")
    await db.executemany("INSERT INTO log (entry) VALUES (?)", [("a",), ("b",)])

    with pytest.raises(sqlite3.IntegrityError):
        await db.execute("INSERT INTO log (entry) VALUES (?)", ("a",))
    assert await db.run(_entries) == ["a", "b"]


async def test_a_cancelled_caller_s_running_call_finishes_before_the_next(
    db: SqliteThread,
) -> None:
    await db.execute("CREATE TABLE log (entry TEXT)")
    started, go_on = threading.Event(), threading.Event()
    held = asyncio.create_task(db.run(_held, started, go_on))
    await _wait_for(started)

    held.cancel()
    after = asyncio.create_task(db.execute("INSERT INTO log (entry) VALUES ('after')"))
    go_on.set()
    await after

    assert held.cancelled()
    assert await db.run(_entries) == ["held", "after"]


async def test_a_call_cancelled_before_its_turn_never_runs(db: SqliteThread) -> None:
    await db.execute("CREATE TABLE log (entry TEXT)")
    started, go_on = threading.Event(), threading.Event()
    held = asyncio.create_task(db.run(_held, started, go_on))
    await _wait_for(started)
    skipped = asyncio.create_task(db.execute("INSERT INTO log (entry) VALUES ('skipped')"))
    await asyncio.sleep(0)  # submitted, queued behind the held call

    skipped.cancel()
    go_on.set()
    await held

    assert skipped.cancelled()
    assert await db.run(_entries) == ["held"]


async def test_close_waits_for_calls_in_flight_then_ends_the_thread(tmp_path: Path) -> None:
    db = await SqliteThread.open(tmp_path / "thread.db", "sqlite-closing")
    await db.execute("CREATE TABLE log (entry TEXT)")
    started, go_on = threading.Event(), threading.Event()
    held = asyncio.create_task(db.run(_held, started, go_on))
    await _wait_for(started)

    closing = asyncio.create_task(db.close())
    await asyncio.sleep(0.05)
    assert not closing.done()  # the held call is still running
    go_on.set()
    assert await held == "done"
    await closing

    with pytest.raises(StoreError, match="closed"):
        await db.execute("SELECT 1")
    await db.close()  # a second close is a no-op
    await _thread_gone("sqlite-closing")
    with sqlite3.connect(tmp_path / "thread.db") as check:
        assert check.execute("SELECT entry FROM log").fetchall() == [("held",)]


async def test_a_file_that_cannot_be_opened_fails_open_and_ends_the_thread(
    tmp_path: Path,
) -> None:
    with pytest.raises(sqlite3.OperationalError, match="unable to open"):
        await SqliteThread.open(tmp_path / "missing-dir" / "thread.db", "sqlite-unopened")
    await _thread_gone("sqlite-unopened")


async def test_an_open_cancelled_half_way_ends_its_thread(tmp_path: Path) -> None:
    opening = asyncio.create_task(SqliteThread.open(tmp_path / "thread.db", "sqlite-dropped"))
    await asyncio.sleep(0)  # the thread is started and connecting
    opening.cancel()
    with pytest.raises(asyncio.CancelledError):
        await opening
    await _thread_gone("sqlite-dropped")


async def test_the_connection_is_never_used_off_its_thread(db: SqliteThread) -> None:
    # check_same_thread stays on: a callable that smuggled the connection out
    # could not use it anywhere else.
    conn = await db.run(lambda conn: conn)
    with pytest.raises(sqlite3.ProgrammingError, match="thread"):
        conn.execute("SELECT 1")
