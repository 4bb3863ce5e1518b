"""One sqlite3 connection on a thread of its own, driven from the event loop.

Why chatd has its own executor rather than a library's: every query runs as
ONE call on the connection's thread (execute, fetch and close together:
sqlite_rows), and a whole transaction as one callable (group commit:
sqlite_appends). Through aiosqlite's cursor API those were separate queued
trips, and a statement executed but not yet closed held its connection's read
snapshot; aiosqlite has no public "run this callable on your thread", so chatd
reached into its private calls. This class is the few operations the store
needs: one thread, one queue, calls run one at a time in the order made.

A plain thread and queue rather than a one-worker ThreadPoolExecutor: a trip
through `loop.run_in_executor` (its futures, locks and callbacks) measured
35-50 us on uvloop, against 22-26 us here (as through aiosqlite), and every
query is a trip.

Cancellation: a call whose caller is cancelled before the thread takes it up
is skipped; one already taken up finishes (its result is dropped). Either way
the calls made after it (a rollback, a lock release) run after it, so cleanup
stays in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Concatenate, NamedTuple, ParamSpec, TypeVar

from chatd.store.base import StoreError

T = TypeVar("T")
P = ParamSpec("P")


class _Call(NamedTuple):
    """One trip: `fn(connection, *args, **kwargs)`, or (fn None) close and stop."""

    future: asyncio.Future[Any]
    fn: Callable[..., Any] | None
    args: tuple[Any, ...]
    kwargs: dict[str, Any]


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():  # its caller was cancelled meanwhile
        return
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)


def _answer(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    """Hand a result to the future's event loop (from the connection's thread)."""
    # RuntimeError: the loop is closed, nobody is waiting any more.
    with contextlib.suppress(RuntimeError):
        future.get_loop().call_soon_threadsafe(_settle, future, result, error)


def _connect(path: Path) -> sqlite3.Connection:
    # isolation_level=None: no implicit transactions from the sqlite3 module;
    # every transaction is an explicit BEGIN. check_same_thread stays on: the
    # connection is made on its thread and any use from another one fails loudly.
    conn = sqlite3.connect(path, isolation_level=None)
    conn.row_factory = sqlite3.Row
    return conn


def _execute(conn: sqlite3.Connection, sql: str, params: Sequence[Any]) -> None:
    conn.execute(sql, params).close()


def _executemany(conn: sqlite3.Connection, sql: str, rows: Iterable[Sequence[Any]]) -> None:
    conn.executemany(sql, rows).close()


class SqliteThread:
    """A sqlite3 connection used only on its one dedicated thread.

    `await SqliteThread.open(path, name)`, then `run`/`execute`/`executemany`;
    `close()` closes the connection after every call already made and ends the
    thread. Rows come back as `sqlite3.Row`.
    """

    def __init__(self) -> None:
        self._calls: queue.SimpleQueue[_Call] = queue.SimpleQueue()
        self._closed = False

    @classmethod
    async def open(cls, path: Path, name: str) -> SqliteThread:
        """Connect to `path` on a new thread called `name`."""
        db = cls()
        opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        # A daemon, like the checkpointer's: a store never closed (a crash on
        # the way out) must not keep the process alive; an interrupted write is
        # what a killed process leaves, and SQLite's journal survives that.
        threading.Thread(target=db._serve, args=(path, opened), name=name, daemon=True).start()
        try:
            await opened
        except BaseException:
            # Failed (the thread has ended) or cancelled (it closes what it opened).
            db._closed = True
            db._calls.put(_Call(asyncio.get_running_loop().create_future(), None, (), {}))
            raise
        return db

    def _serve(self, path: Path, opened: asyncio.Future[None]) -> None:
        try:
            conn = _connect(path)
        except BaseException as exc:
            _answer(opened, None, exc)
            return
        _answer(opened, None, None)
        while True:
            call = self._calls.get()
            if call.fn is None:
                break
            if call.future.cancelled():  # its caller gave up before its turn
                continue
            try:
                result = call.fn(conn, *call.args, **call.kwargs)
            except BaseException as exc:
                _answer(call.future, None, exc)
            else:
                _answer(call.future, result, None)
        try:
            conn.close()
        except BaseException as exc:
            _answer(call.future, None, exc)
        else:
            _answer(call.future, None, None)

    async def run(
        self,
        fn: Callable[Concatenate[sqlite3.Connection, P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """`fn(connection, *args, **kwargs)` on the thread, after every call made before."""
        if self._closed:
            raise StoreError("sqlite store is closed")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._calls.put(_Call(future, fn, args, kwargs))
        return await future

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        """One statement whose rows, if any, are not wanted (see sqlite_rows for queries)."""
        await self.run(_execute, sql, params)

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        await self.run(_executemany, sql, rows)

    async def close(self) -> None:
        """Close the connection once the calls already made have run; idempotent."""
        if self._closed:
            return
        self._closed = True
        closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._calls.put(_Call(closed, None, (), {}))
        # Shielded: a cancelled close() still closes the connection (the thread
        # does, whether or not anyone waits for it).
        await asyncio.shield(closed)
