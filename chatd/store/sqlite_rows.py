"""Row <-> record conversion and query helpers shared by the SQLite adapter's modules."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict
from typing import Any, Literal, TypeVar

import aiosqlite

from chatd._compat import run_on_sqlite_thread, sqlite_connection
from chatd.models import Attachment, Mention, Message, message_from_fields

T = TypeVar("T")


def attachments_json(attachments: Iterable[Attachment]) -> str:
    return json.dumps([asdict(a) for a in attachments], separators=(",", ":"))


def mentions_json(mentions: Iterable[Mention]) -> str:
    return json.dumps([asdict(m) for m in mentions], separators=(",", ":"))


def message_from_row(row: sqlite3.Row) -> Message:
    fields = dict(zip(row.keys(), row, strict=True))
    fields["attachments"] = json.loads(row["attachments"])
    fields["mentions"] = json.loads(row["mentions"])
    return message_from_fields(fields)


def placeholders(count: int) -> str:
    """`?, ?, ?` for an IN list of `count` values."""
    return ", ".join("?" * count)


# Every query runs as ONE call on the connection's thread: execute, fetch,
# close. Through aiosqlite's cursor API those are separate trips, queued behind
# other coroutines' trips; a statement stays active (holding its connection's
# read snapshot) until its close comes up. Under load some statement was always
# active on the shared read connection, so it kept reading an old snapshot for
# seconds: a resume found nothing after a seq that had been committed and
# delivered meanwhile (found by the reconnect-storm benchmark).


#: What a query returns: its first row, all its rows, or how many rows it changed.
Fetch = Literal["one", "all", "count"]


def _run(conn: sqlite3.Connection, sql: str, params: Sequence[Any], fetch: Fetch) -> Any:
    cursor = conn.execute(sql, params)
    try:
        if fetch == "one":
            return cursor.fetchone()
        if fetch == "all":
            return cursor.fetchall()
        return cursor.rowcount
    finally:
        cursor.close()


async def on_thread(db: aiosqlite.Connection, fn: Callable[..., T], *args: Any) -> T:
    """Run `fn(*args)` on the connection's thread, in order with its other calls."""
    return await run_on_sqlite_thread(db, fn, *args)


async def _query(db: aiosqlite.Connection, sql: str, params: Sequence[Any], fetch: Fetch) -> Any:
    return await on_thread(db, _run, sqlite_connection(db), sql, params, fetch)


async def scalar(db: aiosqlite.Connection, sql: str, params: Sequence[Any] = ()) -> Any:
    row = await _query(db, sql, params, "one")
    return None if row is None else row[0]


async def one(db: aiosqlite.Connection, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
    row: sqlite3.Row | None = await _query(db, sql, params, "one")
    return row


async def all_rows(
    db: aiosqlite.Connection, sql: str, params: Sequence[Any] = ()
) -> list[sqlite3.Row]:
    rows: list[sqlite3.Row] = await _query(db, sql, params, "all")
    return rows


async def changes(db: aiosqlite.Connection, sql: str, params: Sequence[Any] = ()) -> int:
    """Run a write statement and return how many rows it changed."""
    count: int = await _query(db, sql, params, "count")
    return count
