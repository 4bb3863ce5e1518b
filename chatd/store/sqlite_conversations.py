"""The SQLite adapter's conversation features: the room event log, edits, deletes,
reactions, threads, read state and full-text search (FTS5).

Every seq'd event is written in the same `BEGIN IMMEDIATE` transaction that
bumps `rooms.last_seq`, together with its row in `room_events`: an event and
its seq are committed at once or not at all, from any process.

Mixed into `SqliteStore`, which provides the connections (`_read`, `_write`).
"""

from __future__ import annotations

import abc
import json
import sqlite3
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Final

from chatd.models import (
    EventKind,
    Mention,
    Message,
    ReactionChange,
    ReactionCount,
    ReactionOp,
    RoomEvent,
    SearchQuery,
    Unread,
)
from chatd.store.base import Store, StoreError
from chatd.store.sqlite_rows import (
    all_rows,
    changes,
    mentions_json,
    message_from_row,
    one,
    placeholders,
    scalar,
)
from chatd.store.sqlite_thread import SqliteThread
from chatd.util.clock import now_ms

#: Stands for "everyone" in the mentions table (no user id looks like it).
ROOM_MENTION: Final = "@room"

#: Schema step 3 (see sqlite.MIGRATIONS): everything conversations need.
CONVERSATIONS_MIGRATION: Final[tuple[str, ...]] = (
    "ALTER TABLE messages ADD COLUMN thread_count INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE messages ADD COLUMN thread_last_ts INTEGER",
    # JSON list of {user_id, username}: the members the text @-mentions.
    "ALTER TABLE messages ADD COLUMN mentions TEXT NOT NULL DEFAULT '[]'",
    "ALTER TABLE messages ADD COLUMN mentions_room INTEGER NOT NULL DEFAULT 0",
    "CREATE INDEX messages_thread ON messages (thread_id, seq) WHERE thread_id IS NOT NULL",
    # The latest message's ts: DMs are listed by latest activity.
    "ALTER TABLE rooms ADD COLUMN last_ts INTEGER",
    "UPDATE rooms SET last_ts = (SELECT max(ts) FROM messages WHERE messages.room_id = rooms.id)",
    # The room event log: one row per seq, written with the seq. No message
    # content here (it is rebuilt from `messages`), so a delete leaves none.
    """
    CREATE TABLE room_events (
        room_id    TEXT NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
        seq        INTEGER NOT NULL,
        kind       TEXT NOT NULL CHECK (kind IN ('message', 'edit', 'delete', 'reaction')),
        message_id TEXT NOT NULL,
        ts         INTEGER NOT NULL,
        payload    TEXT NOT NULL DEFAULT '{}',
        PRIMARY KEY (room_id, seq)
    ) WITHOUT ROWID
    """,
    """
    INSERT INTO room_events (room_id, seq, kind, message_id, ts)
        SELECT room_id, seq, 'message', id, ts FROM messages
    """,
    """
    CREATE TABLE reactions (
        message_id TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
        emoji      TEXT NOT NULL,
        user_id    TEXT NOT NULL,
        seq        INTEGER NOT NULL,  -- the event that added it
        PRIMARY KEY (message_id, emoji, user_id)
    ) WITHOUT ROWID
    """,
    """
    CREATE TABLE mentions (
        user_id    TEXT NOT NULL,  -- the mentioned member, or '@room'
        room_id    TEXT NOT NULL,
        seq        INTEGER NOT NULL,  -- the message's seq
        message_id TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
        author_id  TEXT NOT NULL,
        PRIMARY KEY (user_id, room_id, seq)
    ) WITHOUT ROWID
    """,
    "CREATE INDEX mentions_message ON mentions (message_id)",
    """
    CREATE TABLE read_states (
        room_id   TEXT NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
        user_id   TEXT NOT NULL,
        last_read INTEGER NOT NULL,
        PRIMARY KEY (room_id, user_id)
    ) WITHOUT ROWID
    """,
    # Members from before this step have read everything so far (no flood of
    # "unread" on upgrade).
    """
    INSERT INTO read_states (room_id, user_id, last_read)
        SELECT m.room_id, m.user_id, r.last_seq FROM memberships m JOIN rooms r ON r.id = m.room_id
    """,
    # Full-text search. `message_search` gives each message a stable integer
    # document id (the implicit rowid of `messages` may change on VACUUM);
    # the FTS5 index is contentless, so the text is stored only in `messages`.
    """
    CREATE TABLE message_search (
        doc_id     INTEGER PRIMARY KEY,
        message_id TEXT NOT NULL UNIQUE
    )
    """,
    """
    CREATE VIRTUAL TABLE messages_fts USING fts5 (
        text, content = '', tokenize = 'unicode61 remove_diacritics 2'
    )
    """,
    # Triggers keep the index in step with every insert, edit and delete, in
    # the writing transaction itself.
    """
    CREATE TRIGGER messages_search_insert AFTER INSERT ON messages BEGIN
        INSERT INTO message_search (message_id) VALUES (new.id);
        INSERT INTO messages_fts (rowid, text)
            SELECT doc_id, new.text FROM message_search WHERE message_id = new.id;
    END
    """,
    """
    CREATE TRIGGER messages_search_update AFTER UPDATE OF text ON messages BEGIN
        INSERT INTO messages_fts (messages_fts, rowid, text)
            SELECT 'delete', doc_id, old.text FROM message_search WHERE message_id = old.id;
        INSERT INTO messages_fts (rowid, text)
            SELECT doc_id, new.text FROM message_search WHERE message_id = new.id;
    END
    """,
    """
    CREATE TRIGGER messages_search_delete AFTER DELETE ON messages BEGIN
        INSERT INTO messages_fts (messages_fts, rowid, text)
            SELECT 'delete', doc_id, old.text FROM message_search WHERE message_id = old.id;
        DELETE FROM message_search WHERE message_id = old.id;
    END
    """,
    "INSERT INTO message_search (message_id) SELECT id FROM messages ORDER BY ts, id",
    """
    INSERT INTO messages_fts (rowid, text)
        SELECT s.doc_id, m.text FROM message_search s JOIN messages m ON m.id = s.message_id
    """,
)

#: Values per IN list: far below SQLite's parameter limit, large enough for a page.
_IN_CHUNK: Final = 500


def in_list(sql: str, count: int) -> str:
    """`sql` with its `?*` replaced by `count` placeholders (an IN list of values)."""
    return sql.replace("?*", placeholders(count))


def fts_query(terms: Sequence[str]) -> str:
    """Every term as a quoted FTS5 string; side by side they must all match."""
    return " ".join('"' + term.replace('"', '""') + '"' for term in terms)


async def bump_seq(db: SqliteThread, room_id: str) -> int:
    """Take the room's next seq inside the caller's write transaction."""
    seq = await scalar(
        db, "UPDATE rooms SET last_seq = last_seq + 1 WHERE id = ? RETURNING last_seq", (room_id,)
    )
    if seq is None:
        raise StoreError(f"no room {room_id!r}")
    return int(seq)


async def log_event(
    db: SqliteThread,
    room_id: str,
    seq: int,
    kind: EventKind,
    message_id: str,
    *,
    ts: int,
    payload: dict[str, str] | None = None,
) -> None:
    await db.execute(
        "INSERT INTO room_events (room_id, seq, kind, message_id, ts, payload)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (room_id, seq, kind.value, message_id, ts, json.dumps(payload or {})),
    )


async def index_mentions(
    db: SqliteThread,
    message: Message,
    mentions: Sequence[Mention],
    mentions_room: bool,
) -> None:
    """(Re)write the mention rows unread counts are taken from."""
    await db.execute("DELETE FROM mentions WHERE message_id = ?", (message.id,))
    targets = {m.user_id for m in mentions}
    if mentions_room:
        targets.add(ROOM_MENTION)
    await db.executemany(
        "INSERT INTO mentions (user_id, room_id, seq, message_id, author_id)"
        " VALUES (?, ?, ?, ?, ?)",
        [(t, message.room_id, message.seq, message.id, message.user_id) for t in sorted(targets)],
    )


async def record_new_message(db: SqliteThread, message: Message) -> None:
    """The rest of an append, in its transaction: event log, mentions, thread counts."""
    await log_event(db, message.room_id, message.seq, EventKind.MESSAGE, message.id, ts=message.ts)
    if message.mentions or message.mentions_room:
        await index_mentions(db, message, message.mentions, message.mentions_room)
    if message.thread_id is not None:
        await db.execute(
            "UPDATE messages SET thread_count = thread_count + 1,"
            " thread_last_ts = max(coalesce(thread_last_ts, 0), ?)"
            " WHERE id = ? AND room_id = ?",
            (message.ts, message.thread_id, message.room_id),
        )


class SqliteConversations(Store):
    """The ConversationStore half of the Store on SQLite (SqliteStore completes it)."""

    # -- what SqliteStore provides (abstract: mypy and abc check that it does) -----------
    @abc.abstractmethod
    def _read(self) -> AbstractAsyncContextManager[SqliteThread]:
        """The read connection, for one or more queries."""

    @abc.abstractmethod
    def _write(self) -> AbstractAsyncContextManager[SqliteThread]:
        """The write connection inside one transaction (BEGIN IMMEDIATE ... COMMIT)."""

    # -- edits and deletes -------------------------------------------------------------
    async def edit_message(
        self,
        room_id: str,
        message_id: str,
        text: str,
        *,
        mentions: tuple[Mention, ...] = (),
        mentions_room: bool = False,
    ) -> tuple[Message, int] | None:
        async with self._write() as db:
            row = await one(
                db, "SELECT * FROM messages WHERE id = ? AND room_id = ?", (message_id, room_id)
            )
            if row is None:
                return None
            seq = await bump_seq(db, room_id)
            edited_at = now_ms()
            updated = await one(
                db,
                "UPDATE messages SET text = ?, edited_at = ?, mentions = ?, mentions_room = ?"
                " WHERE id = ? RETURNING *",
                (text, edited_at, mentions_json(mentions), int(mentions_room), message_id),
            )
            assert updated is not None  # read in this same transaction
            message = message_from_row(updated)
            await index_mentions(db, message, mentions, mentions_room)
            await log_event(db, room_id, seq, EventKind.EDIT, message_id, ts=edited_at)
        return message, seq

    async def delete_message(self, room_id: str, message_id: str) -> tuple[Message, int] | None:
        async with self._write() as db:
            row = await one(
                db, "SELECT * FROM messages WHERE id = ? AND room_id = ?", (message_id, room_id)
            )
            if row is None:
                return None
            message = message_from_row(row)
            seq = await bump_seq(db, room_id)
            # Reactions and mentions go by foreign-key cascade, the search
            # entry by trigger: the text is nowhere in the file afterwards
            # (secure_delete zeroes the freed pages).
            await db.execute("DELETE FROM messages WHERE id = ?", (message_id,))
            if message.thread_id is not None:
                await db.execute(
                    "UPDATE messages SET thread_count = max(thread_count - 1, 0),"
                    " thread_last_ts = (SELECT max(ts) FROM messages"
                    "   WHERE thread_id = ?1 AND room_id = ?2)"
                    " WHERE id = ?1 AND room_id = ?2",
                    (message.thread_id, room_id),
                )
            await log_event(db, room_id, seq, EventKind.DELETE, message_id, ts=now_ms())
        return message, seq

    # -- reactions ----------------------------------------------------------------------
    async def add_reaction(
        self, room_id: str, message_id: str, user_id: str, username: str, emoji: str
    ) -> ReactionChange | None:
        async with self._write() as db:
            if await _message_seq(db, room_id, message_id) is None:
                return None
            existing = await scalar(
                db,
                "SELECT seq FROM reactions WHERE message_id = ? AND emoji = ? AND user_id = ?",
                (message_id, emoji, user_id),
            )
            if existing is not None:
                return ReactionChange(seq=int(existing), changed=False)
            seq = await bump_seq(db, room_id)
            await db.execute(
                "INSERT INTO reactions (message_id, emoji, user_id, seq) VALUES (?, ?, ?, ?)",
                (message_id, emoji, user_id, seq),
            )
            await log_event(
                db,
                room_id,
                seq,
                EventKind.REACTION,
                message_id,
                ts=now_ms(),
                payload=_reaction_payload(emoji, user_id, username, ReactionOp.ADD),
            )
        return ReactionChange(seq=seq, changed=True)

    async def remove_reaction(
        self, room_id: str, message_id: str, user_id: str, username: str, emoji: str
    ) -> ReactionChange | None:
        async with self._write() as db:
            message_seq = await _message_seq(db, room_id, message_id)
            if message_seq is None:
                return None
            removed = await changes(
                db,
                "DELETE FROM reactions WHERE message_id = ? AND emoji = ? AND user_id = ?",
                (message_id, emoji, user_id),
            )
            if removed == 0:
                return ReactionChange(seq=message_seq, changed=False)
            seq = await bump_seq(db, room_id)
            await log_event(
                db,
                room_id,
                seq,
                EventKind.REACTION,
                message_id,
                ts=now_ms(),
                payload=_reaction_payload(emoji, user_id, username, ReactionOp.REMOVE),
            )
        return ReactionChange(seq=seq, changed=True)

    async def reactions(
        self, message_ids: Sequence[str], viewer_id: str
    ) -> dict[str, list[ReactionCount]]:
        result: dict[str, list[ReactionCount]] = {}
        async with self._read() as db:
            for start in range(0, len(message_ids), _IN_CHUNK):
                chunk = list(message_ids[start : start + _IN_CHUNK])
                rows = await all_rows(
                    db,
                    in_list(
                        "SELECT message_id, emoji, count(*) AS n, max(user_id = ?) AS me,"
                        " min(seq) AS first FROM reactions WHERE message_id IN (?*)"
                        " GROUP BY message_id, emoji ORDER BY message_id, first",
                        len(chunk),
                    ),
                    (viewer_id, *chunk),
                )
                for row in rows:
                    result.setdefault(row["message_id"], []).append(
                        ReactionCount(emoji=row["emoji"], count=row["n"], me=bool(row["me"]))
                    )
        return result

    # -- the event log ------------------------------------------------------------------------
    async def events_after(self, room_id: str, after_seq: int, limit: int) -> list[RoomEvent]:
        if limit <= 0:
            return []
        async with self._read() as db:
            rows = await all_rows(
                db,
                "SELECT * FROM room_events WHERE room_id = ? AND seq > ? ORDER BY seq LIMIT ?",
                (room_id, after_seq, limit),
            )
            ids = sorted({r["message_id"] for r in rows})
            messages = {
                m["id"]: message_from_row(m)
                for m in await all_rows(
                    db,
                    in_list("SELECT * FROM messages WHERE id IN (?*)", len(ids)),
                    ids,
                )
            }
        return [
            RoomEvent(
                room_id=r["room_id"],
                seq=r["seq"],
                kind=EventKind(r["kind"]),
                message_id=r["message_id"],
                ts=r["ts"],
                payload=json.loads(r["payload"]),
                message=messages.get(r["message_id"]),
            )
            for r in rows
        ]

    # -- threads ---------------------------------------------------------------------------------
    async def thread_messages(
        self,
        room_id: str,
        thread_id: str,
        *,
        limit: int,
        before_seq: int | None = None,
        after_seq: int | None = None,
    ) -> list[Message]:
        if limit <= 0:
            return []
        base = "SELECT * FROM messages WHERE room_id = ? AND thread_id = ?"
        async with self._read() as db:
            if after_seq is not None:
                sql = base + " AND seq > ?"
                params: list[object] = [room_id, thread_id, after_seq]
                if before_seq is not None:
                    sql += " AND seq < ?"
                    params.append(before_seq)
                rows = await all_rows(db, sql + " ORDER BY seq LIMIT ?", (*params, limit))
                return [message_from_row(r) for r in rows]
            params = [room_id, thread_id]
            if before_seq is not None:
                base += " AND seq < ?"
                params.append(before_seq)
            rows = await all_rows(db, base + " ORDER BY seq DESC LIMIT ?", (*params, limit))
        return [message_from_row(r) for r in reversed(rows)]

    # -- read state -------------------------------------------------------------------------------
    async def mark_read(self, user_id: str, room_id: str, seq: int) -> int:
        try:
            async with self._write() as db:
                position = await scalar(
                    db,
                    "INSERT INTO read_states (room_id, user_id, last_read) VALUES (?, ?, ?)"
                    " ON CONFLICT (room_id, user_id)"
                    " DO UPDATE SET last_read = max(last_read, excluded.last_read)"
                    " RETURNING last_read",
                    (room_id, user_id, seq),
                )
        except sqlite3.IntegrityError:
            raise StoreError(f"no room {room_id!r}") from None
        return int(position)

    async def read_positions(self, room_id: str) -> dict[str, int]:
        async with self._read() as db:
            rows = await all_rows(
                db,
                "SELECT m.user_id, coalesce(r.last_read, 0) AS last_read FROM memberships m"
                " LEFT JOIN read_states r ON r.room_id = m.room_id AND r.user_id = m.user_id"
                " WHERE m.room_id = ?",
                (room_id,),
            )
        return {r["user_id"]: r["last_read"] for r in rows}

    async def unread(self, user_id: str, room_ids: Sequence[str]) -> dict[str, Unread]:
        result: dict[str, Unread] = {}
        async with self._read() as db:
            for start in range(0, len(room_ids), _IN_CHUNK):
                chunk = list(room_ids[start : start + _IN_CHUNK])
                # Counts run on the (room_id, seq) and mentions primary-key
                # indexes from the read position on: cost grows with what is
                # unread, not with the room's history.
                rows = await all_rows(
                    db,
                    in_list(
                        "SELECT r.id AS room_id, coalesce(s.last_read, 0) AS last_read,"
                        " (SELECT count(*) FROM messages m WHERE m.room_id = r.id"
                        "   AND m.seq > coalesce(s.last_read, 0) AND m.user_id != ?1) AS unread,"
                        " (SELECT count(DISTINCT x.seq) FROM mentions x"
                        "   WHERE x.user_id IN (?1, ?2) AND x.room_id = r.id"
                        "   AND x.seq > coalesce(s.last_read, 0) AND x.author_id != ?1)"
                        " AS mentions FROM rooms r"
                        " LEFT JOIN read_states s ON s.room_id = r.id AND s.user_id = ?1"
                        " WHERE r.id IN (?*)",
                        len(chunk),
                    ),
                    (user_id, ROOM_MENTION, *chunk),
                )
                for row in rows:
                    result[row["room_id"]] = Unread(
                        last_read=row["last_read"], count=row["unread"], mentions=row["mentions"]
                    )
        return result

    # -- search and activity -------------------------------------------------------------------
    async def search_messages(self, query: SearchQuery) -> list[Message]:
        if query.limit <= 0 or not query.terms:
            return []
        # Membership is part of the query: a page holds only readable rows,
        # never a global page filtered afterwards.
        sql = (
            "SELECT m.* FROM messages_fts"
            " JOIN message_search s ON s.doc_id = messages_fts.rowid"
            " JOIN messages m ON m.id = s.message_id"
            " JOIN memberships mb ON mb.room_id = m.room_id AND mb.user_id = ?"
            " WHERE messages_fts MATCH ?"
        )
        params: list[object] = [query.user_id, fts_query(query.terms)]
        if query.room_id is not None:
            sql += " AND m.room_id = ?"
            params.append(query.room_id)
        if query.author_id is not None:
            sql += " AND m.user_id = ?"
            params.append(query.author_id)
        if query.before_ts is not None:
            sql += " AND m.ts < ?"
            params.append(query.before_ts)
        if query.after_ts is not None:
            sql += " AND m.ts > ?"
            params.append(query.after_ts)
        if query.cursor is not None:
            sql += " AND (m.ts < ? OR (m.ts = ? AND m.id < ?))"
            params.extend((query.cursor[0], query.cursor[0], query.cursor[1]))
        sql += " ORDER BY m.ts DESC, m.id DESC LIMIT ?"
        params.append(query.limit)
        async with self._read() as db:
            rows = await all_rows(db, sql, params)
        return [message_from_row(r) for r in rows]

    async def last_activity(self, room_ids: Sequence[str]) -> dict[str, int]:
        result: dict[str, int] = {}
        async with self._read() as db:
            for start in range(0, len(room_ids), _IN_CHUNK):
                chunk = list(room_ids[start : start + _IN_CHUNK])
                rows = await all_rows(
                    db,
                    in_list(
                        "SELECT id, last_ts FROM rooms WHERE id IN (?*) AND last_ts IS NOT NULL",
                        len(chunk),
                    ),
                    chunk,
                )
                result.update((r["id"], r["last_ts"]) for r in rows)
        return result


async def _message_seq(db: SqliteThread, room_id: str, message_id: str) -> int | None:
    seq = await scalar(
        db, "SELECT seq FROM messages WHERE id = ? AND room_id = ?", (message_id, room_id)
    )
    return None if seq is None else int(seq)


def _reaction_payload(emoji: str, user_id: str, username: str, op: ReactionOp) -> dict[str, str]:
    return {"emoji": emoji, "user_id": user_id, "username": username, "op": op.value}
