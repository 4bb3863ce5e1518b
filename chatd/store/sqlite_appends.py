"""Group commit for SQLite message appends: every append waiting at once, one transaction.

A message append is the hot write of a chat server. Done one transaction at a
time, a statement per trip, each costs about ten hops to the database thread
(BEGIN, the nonce look-up, the seq bump, the inserts, COMMIT), and appends from
all rooms queue behind one another on the write lock. Here appends that arrive
while a batch is being written wait together, and the next batch runs as one
function call on the database thread inside one `BEGIN IMMEDIATE` transaction:

- order: appends are applied in arrival order, so seqs within a room follow it;
  their futures resolve in that order once the batch has committed, so nobody
  hears of a message (ack or delivery) before it is stored;
- idempotency: the (user, nonce) look-up runs inside the same transaction, so a
  retry in the same batch finds the first copy;
- isolation: each append runs under its own SAVEPOINT, so one that fails (an
  unknown room, a constraint) is rolled back alone and raises to its caller
  only, while the rest of the batch commits.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, Final

from chatd.models import EventKind, Message, NewMessage
from chatd.store.base import StoreError
from chatd.store.sqlite_conversations import ROOM_MENTION
from chatd.store.sqlite_rows import attachments_json, mentions_json, message_from_row
from chatd.util.clock import new_id, now_ms
from chatd.util.futures import fail_all, settle

#: Appends written per transaction at most (bounds one batch's time on the thread).
MAX_BATCH: Final = 256

AppendResult = tuple[Message, bool]
#: Runs a function with the writer's sqlite3 connection on the database thread
#: while holding the store's write lock (SqliteStore._run_write).
RunWrite = Callable[[Callable[[sqlite3.Connection], Any]], Any]


class AppendBatcher:
    """Collects concurrent appends and writes them in batches, one task at a time."""

    def __init__(self, run_write: RunWrite) -> None:
        self._run_write = run_write
        self._pending: list[tuple[NewMessage, asyncio.Future[AppendResult]]] = []
        self._task: asyncio.Task[None] | None = None

    async def append(self, new: NewMessage) -> AppendResult:
        future: asyncio.Future[AppendResult] = asyncio.get_running_loop().create_future()
        self._pending.append((new, future))
        if self._task is None:
            self._task = asyncio.create_task(self._drain(), name="sqlite-append-batches")
        # Shielded: a caller cancelled while its batch is on the thread must not
        # cancel the batch (the others in it); its append still commits.
        return await asyncio.shield(future)

    async def _drain(self) -> None:
        try:
            while self._pending:
                batch = self._pending[:MAX_BATCH]
                del self._pending[:MAX_BATCH]
                news = [new for new, _ in batch]
                try:
                    results: list[AppendResult | Exception] = await self._run_write(
                        partial(append_batch, batch=news)
                    )
                except BaseException as exc:
                    error = exc if isinstance(exc, Exception) else StoreError("store closed")
                    fail_all([future for _, future in batch], error)
                    if not isinstance(exc, Exception):
                        raise
                    continue
                settle([future for _, future in batch], results)
        finally:
            self._task = None
            # Appends queued after a cancellation fail instead of waiting forever.
            pending, self._pending = self._pending, []
            fail_all([future for _, future in pending], StoreError("sqlite store is closing"))

    async def close(self) -> None:
        """Wait for the batches under way (called before the connection closes)."""
        task = self._task
        if task is not None:
            await asyncio.shield(task)


def append_batch(
    conn: sqlite3.Connection, batch: Sequence[NewMessage]
) -> list[AppendResult | Exception]:
    """Store each message in order, in one IMMEDIATE transaction (on the database thread)."""
    results: list[AppendResult | Exception] = []
    conn.execute("BEGIN IMMEDIATE")
    try:
        for new in batch:
            conn.execute("SAVEPOINT append_one")
            try:
                results.append(_append_one(conn, new))
            except (sqlite3.Error, StoreError) as exc:
                conn.execute("ROLLBACK TO append_one")
                results.append(exc)
            conn.execute("RELEASE append_one")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return results


def _append_one(conn: sqlite3.Connection, new: NewMessage) -> AppendResult:
    """One append (the SQL of SqliteStore.append_message before group commit)."""
    if new.nonce is not None:
        row = conn.execute(
            "SELECT * FROM messages WHERE user_id = ? AND nonce = ?", (new.user_id, new.nonce)
        ).fetchone()
        if row is not None:
            return message_from_row(row), False
    ts = now_ms()
    row = conn.execute(
        "UPDATE rooms SET last_seq = last_seq + 1, last_ts = max(coalesce(last_ts, 0), ?)"
        " WHERE id = ? RETURNING last_seq",
        (ts, new.room_id),
    ).fetchone()
    if row is None:
        raise StoreError(f"no room {new.room_id!r}")
    message = new.stored(message_id=new_id(), seq=int(row[0]), ts=ts)
    conn.execute(
        "INSERT INTO messages (id, room_id, seq, user_id, username, text, ts,"
        " message_type, nonce, thread_id, attachments, edited_at, mentions,"
        " mentions_room) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            message.id,
            message.room_id,
            message.seq,
            message.user_id,
            message.username,
            message.text,
            message.ts,
            message.message_type,
            message.nonce,
            message.thread_id,
            attachments_json(message.attachments),
            message.edited_at,
            mentions_json(message.mentions),
            int(message.mentions_room),
        ),
    )
    # The rest of record_new_message (sqlite_conversations), same statements.
    conn.execute(
        "INSERT INTO room_events (room_id, seq, kind, message_id, ts, payload)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (message.room_id, message.seq, EventKind.MESSAGE.value, message.id, ts, json.dumps({})),
    )
    if message.mentions or message.mentions_room:
        targets = {m.user_id for m in message.mentions}
        if message.mentions_room:
            targets.add(ROOM_MENTION)
        conn.executemany(
            "INSERT INTO mentions (user_id, room_id, seq, message_id, author_id)"
            " VALUES (?, ?, ?, ?, ?)",
            [
                (t, message.room_id, message.seq, message.id, message.user_id)
                for t in sorted(targets)
            ],
        )
    if message.thread_id is not None:
        conn.execute(
            "UPDATE messages SET thread_count = thread_count + 1,"
            " thread_last_ts = max(coalesce(thread_last_ts, 0), ?)"
            " WHERE id = ? AND room_id = ?",
            (message.ts, message.thread_id, message.room_id),
        )
    return message, True
