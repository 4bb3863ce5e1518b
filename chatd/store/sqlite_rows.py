"""Row <-> record conversion and query helpers shared by the SQLite adapter's modules."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from typing import Any, Literal

from chatd.models import Attachment, Mention, Message, message_from_fields
from chatd.store.sqlite_thread import SqliteThread


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


# Every query runs as ONE call on the connection's thread (SqliteThread.run):
# execute, fetch, close. Made as separate trips (as aiosqlite's cursor API did),
# they queue behind other coroutines' trips; a statement stays active (holding
# its connection's read snapshot) until its close comes up. Under load some
# statement was always active on the shared read connection, so it kept reading
# an old snapshot for seconds: a resume found nothing after a seq that had been
# committed and delivered meanwhile (found by the reconnect-storm benchmark).


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


async def _query(db: SqliteThread, sql: str, params: Sequence[Any], fetch: Fetch) -> Any:
    return await db.run(_run, sql, params, fetch)


async def scalar(db: SqliteThread, sql: str, params: Sequence[Any] = ()) -> Any:
    row = await _query(db, sql, params, "one")
    return None if row is None else row[0]


async def one(db: SqliteThread, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
    row: sqlite3.Row | None = await _query(db, sql, params, "one")
    return row


async def all_rows(db: SqliteThread, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
    rows: list[sqlite3.Row] = await _query(db, sql, params, "all")
    return rows


async def changes(db: SqliteThread, sql: str, params: Sequence[Any] = ()) -> int:
    """Run a write statement and return how many rows it changed."""
    count: int = await _query(db, sql, params, "count")
    return count
