"""Row <-> record conversion and query helpers shared by the SQLite adapter's modules."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from typing import Any

import aiosqlite

from chatd.store.base import Attachment, Mention, Message


def attachments_json(attachments: Iterable[Attachment]) -> str:
    return json.dumps([asdict(a) for a in attachments], separators=(",", ":"))


def mentions_json(mentions: Iterable[Mention]) -> str:
    return json.dumps([asdict(m) for m in mentions], separators=(",", ":"))


def message_from_row(row: sqlite3.Row) -> Message:
    attachments: list[dict[str, Any]] = json.loads(row["attachments"])
    mentions: list[dict[str, str]] = json.loads(row["mentions"])
    return Message(
        id=row["id"],
        room_id=row["room_id"],
        seq=row["seq"],
        user_id=row["user_id"],
        username=row["username"],
        text=row["text"],
        ts=row["ts"],
        message_type=row["message_type"],
        nonce=row["nonce"],
        thread_id=row["thread_id"],
        attachments=tuple(Attachment(**a) for a in attachments),
        edited_at=row["edited_at"],
        thread_count=row["thread_count"],
        thread_last_ts=row["thread_last_ts"],
        mentions=tuple(Mention(**m) for m in mentions),
        mentions_room=bool(row["mentions_room"]),
    )


def placeholders(count: int) -> str:
    """`?, ?, ?` for an IN list of `count` values."""
    return ", ".join("?" * count)


async def scalar(db: aiosqlite.Connection, sql: str, params: Sequence[Any] = ()) -> Any:
    async with db.execute(sql, params) as cursor:
        row = await cursor.fetchone()
    return None if row is None else row[0]


async def one(db: aiosqlite.Connection, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
    async with db.execute(sql, params) as cursor:
        row: sqlite3.Row | None = await cursor.fetchone()
    return row


async def all_rows(
    db: aiosqlite.Connection, sql: str, params: Sequence[Any] = ()
) -> list[sqlite3.Row]:
    async with db.execute(sql, params) as cursor:
        rows: list[sqlite3.Row] = list(await cursor.fetchall())
    return rows


async def changes(db: aiosqlite.Connection, sql: str, params: Sequence[Any] = ()) -> int:
    """Run a write statement and return how many rows it changed."""
    async with db.execute(sql, params) as cursor:
        return cursor.rowcount
