"""Point look-ups (one row by primary or unique key) on the event loop's own thread.

Every other query goes to the read connection's thread (aiosqlite), so the loop
never blocks on a scan or a lock. For a look-up of one row by key that trip costs
far more than the query: a queue hand-off, a wake-up of the loop from the thread,
and the GIL going back and forth between them, which waits up to the
interpreter's switch interval (5 ms) each time the loop thread is busy. In a
reconnect storm (benchmark scenario 5: 5,000 clients, ~8 look-ups each) the one
read thread then became the queue every handshake waited in: ~0.3-0.5 ms of
wall time per primary-key look-up that SQLite answers in microseconds.

A look-up here reads a few B-tree pages, from the page cache when warm; it
takes no lock a writer holds (WAL readers never wait for writers). The rare
busy case (another process recovering the log) does not wait here: the caller
gets PointBusy at once and asks the read thread, whose connection waits.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any


class PointBusy(Exception):
    """The file was busy (another process holds a lock readers must wait for)."""


class PointReader:
    """A read-only connection used only from the thread that opened it (the loop's)."""

    def __init__(self, path: Path) -> None:
        # isolation_level=None: every statement is its own read transaction, so
        # a look-up always sees the last commit (no snapshot outlives it).
        conn = sqlite3.connect(path, isolation_level=None)
        try:
            conn.row_factory = sqlite3.Row
            # No waiting on this thread: busy goes to the read thread (PointBusy).
            conn.execute("PRAGMA busy_timeout = 0")
            conn.execute("PRAGMA query_only = ON")
        except BaseException:
            conn.close()
            raise
        self._conn: sqlite3.Connection | None = conn

    def row(self, sql: str, params: Sequence[Any]) -> sqlite3.Row | None:
        """The first row of a statement that reads at most one row by key."""
        conn = self._conn
        if conn is None:
            raise sqlite3.ProgrammingError("point reader is closed")
        try:
            cursor = conn.execute(sql, params)
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                raise PointBusy(str(exc)) from exc
            raise
        try:
            row: sqlite3.Row | None = cursor.fetchone()
            return row
        finally:
            cursor.close()

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
