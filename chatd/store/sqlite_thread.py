"""One sqlite3 connection on a thread of its own, driven from the event loop.

Why chatd has its own executor rather than a library's: every query runs as
ONE call on the connection's thread (execute, fetch and close together:
sqlite_rows), and a whole transaction as one callable (group commit:
sqlite_appends). Through aiosqlite's cursor API those were separate queued
trips, and a statement executed but not yet closed held its connection's read
snapshot; aiosqlite has no public "run this callable on your thread", so chatd
reached into its private calls. This class is the few operations the store
needs, on a single-worker `ThreadPoolExecutor`: one thread, calls run one at a
time in the order they were made.

Cancellation: a call whose caller is cancelled before the thread takes it up
never runs; one already running finishes. Either way the calls made after it
(a rollback, a lock release) run after it, so cleanup stays in order.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

from chatd.store.base import StoreError

T = TypeVar("T")
P = ParamSpec("P")


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
    `close()` closes the connection after every call already made and lets the
    thread end. Rows come back as `sqlite3.Row`.
    """

    def __init__(self, executor: ThreadPoolExecutor, conn: sqlite3.Connection) -> None:
        self._executor = executor
        self._conn = conn
        self._closed = False

    @classmethod
    async def open(cls, path: Path, name: str) -> SqliteThread:
        """Connect to `path` on a new thread called `name`."""
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        try:
            conn = await asyncio.get_running_loop().run_in_executor(
                executor, partial(_connect, path)
            )
        except BaseException:
            executor.shutdown(wait=False)
            raise
        return cls(executor, conn)

    async def run(
        self,
        fn: Callable[Concatenate[sqlite3.Connection, P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """`fn(connection, *args, **kwargs)` on the thread, after every call made before."""
        if self._closed:
            raise StoreError("sqlite store is closed")
        return await asyncio.get_running_loop().run_in_executor(
            self._executor, partial(fn, self._conn, *args, **kwargs)
        )

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
        closing = asyncio.get_running_loop().run_in_executor(self._executor, self._conn.close)
        # Queued work still runs; the thread ends after the close.
        self._executor.shutdown(wait=False)
        # Shielded: a cancelled close() must still close the connection.
        await asyncio.shield(closing)
