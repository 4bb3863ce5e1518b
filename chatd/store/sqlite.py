"""The embedded Store adapter: one SQLite file, each connection on a thread of its own.

Zero setup, and still safe when several chatd processes share the file: every
write that allocates a room `seq` runs in a `BEGIN IMMEDIATE` transaction, which
takes SQLite's write lock up front, so two processes can never read the same
`rooms.last_seq`. WAL mode lets readers carry on while one process writes.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Final, TypeVar

from chatd.models import Message, NewMessage, RefreshToken, Room, RoomKind, User
from chatd.store.base import Conflict, StoreError, username_key
from chatd.store.schema import Migration, SchemaTooNew
from chatd.store.sqlite_appends import AppendBatcher
from chatd.store.sqlite_checkpoint import BACKSTOP_PAGES, JOURNAL_SIZE_LIMIT_BYTES, Checkpointer
from chatd.store.sqlite_conversations import CONVERSATIONS_MIGRATION, SqliteConversations
from chatd.store.sqlite_errors import sqlite_failures
from chatd.store.sqlite_lock import WriteLock
from chatd.store.sqlite_rows import all_rows, changes, message_from_row, one, scalar
from chatd.store.sqlite_thread import SqliteThread
from chatd.util.clock import new_id, now_ms
from chatd.util.disk import probe_writable
from chatd.util.private_files import make_private_dirs, private_file, tighten_file

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: How long a statement waits for another process's write lock before failing
#: with "database is locked". Writes are tiny; 5 s only runs out if a process
#: is wedged, and then failing loudly is better than hanging a socket forever.
BUSY_TIMEOUT_MS: Final = 5000

#: Schema migrations, applied in order. Migration N (1-based) brings the file to
#: `PRAGMA user_version = N`. Append new steps; never edit a released one, since
#: files in the wild already ran it.
MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (
    (
        """
        CREATE TABLE users (
            id            TEXT PRIMARY KEY,
            username      TEXT NOT NULL,
            -- casefolded name: uniqueness and look-up ignore letter case,
            -- while `username` keeps the spelling the user chose.
            username_key  TEXT NOT NULL UNIQUE,
            password_hash TEXT NOT NULL,
            created_at    INTEGER NOT NULL
        )
        """,
        """
        CREATE TABLE rooms (
            id         TEXT PRIMARY KEY,
            name       TEXT NOT NULL,
            kind       TEXT NOT NULL CHECK (kind IN ('public', 'private', 'dm')),
            created_by TEXT,
            created_at INTEGER NOT NULL,
            topic      TEXT NOT NULL DEFAULT '',
            -- the room's seq counter; bumped in the same transaction that
            -- stores the event, so seqs are gapless.
            last_seq   INTEGER NOT NULL DEFAULT 0
        )
        """,
        "CREATE INDEX rooms_kind ON rooms (kind, id)",
        """
        CREATE TABLE memberships (
            room_id   TEXT NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
            user_id   TEXT NOT NULL,
            role      TEXT NOT NULL CHECK (role IN ('owner', 'moderator', 'member')),
            joined_at INTEGER NOT NULL,
            PRIMARY KEY (room_id, user_id)
        ) WITHOUT ROWID
        """,
        "CREATE INDEX memberships_user ON memberships (user_id, room_id)",
        """
        CREATE TABLE messages (
            id           TEXT PRIMARY KEY,
            room_id      TEXT NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
            seq          INTEGER NOT NULL,
            user_id      TEXT NOT NULL,
            username     TEXT NOT NULL,
            text         TEXT NOT NULL,
            ts           INTEGER NOT NULL,
            message_type TEXT NOT NULL,
            nonce        TEXT,
            thread_id    TEXT,
            attachments  TEXT NOT NULL DEFAULT '[]',  -- JSON list of Attachment fields
            edited_at    INTEGER,
            UNIQUE (room_id, seq)
        )
        """,
        # A client retry carries the same nonce; this index makes the retry find
        # the first copy and keeps a second one out even if the look-up raced.
        """
        CREATE UNIQUE INDEX messages_user_nonce ON messages (user_id, nonce)
            WHERE nonce IS NOT NULL
        """,
    ),
    (
        # Access tokens issued before this second are refused (password change).
        # Bumped by each password change: access tokens of older versions are refused.
        "ALTER TABLE users ADD COLUMN token_version INTEGER NOT NULL DEFAULT 0",
        """
        CREATE TABLE refresh_tokens (
            token_hash TEXT PRIMARY KEY,  -- SHA-256 of the token; the token is never stored
            family_id  TEXT NOT NULL,
            user_id    TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            expires_at INTEGER NOT NULL,
            used_at    INTEGER,
            revoked    INTEGER NOT NULL DEFAULT 0
        ) WITHOUT ROWID
        """,
        "CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id)",
        "CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id)",
    ),
    # Event log, reactions, threads, mentions, read state, full-text search.
    CONVERSATIONS_MIGRATION,
    (
        # Voice channels: rooms whose call is audio-only.
        "ALTER TABLE rooms ADD COLUMN voice INTEGER NOT NULL DEFAULT 0",
    ),
    (
        # Logged-out access tokens, refused until they expire (durable: a
        # logout must outlive any broker restart).
        """
        CREATE TABLE revoked_access_tokens (
            jti        TEXT PRIMARY KEY,
            expires_at INTEGER NOT NULL  -- epoch seconds, the token's `exp`
        ) WITHOUT ROWID
        """,
        "CREATE INDEX revoked_access_tokens_expiry ON revoked_access_tokens (expires_at)",
    ),
    (
        # Facts about the store as a whole; `epoch` changes when a backup is
        # restored (Store.epoch). A file of any age gets one here, at random.
        """
        CREATE TABLE store_meta (
            key   TEXT PRIMARY KEY,
            value TEXT NOT NULL
        ) WITHOUT ROWID
        """,
        "INSERT INTO store_meta (key, value) VALUES ('epoch', lower(hex(randomblob(16))))",
    ),
)

#: The version `open` brings every file to.
SCHEMA_VERSION: Final = len(MIGRATIONS)

_INSERT_ROOM: Final = (
    "INSERT INTO rooms (id, name, kind, created_by, created_at, topic, voice)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)


def _user(row: sqlite3.Row) -> User:
    return User(
        id=row["id"],
        username=row["username"],
        password_hash=row["password_hash"],
        created_at=row["created_at"],
        token_version=row["token_version"],
    )


def _refresh_token(row: sqlite3.Row) -> RefreshToken:
    return RefreshToken(
        token_hash=row["token_hash"],
        family_id=row["family_id"],
        user_id=row["user_id"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        used_at=row["used_at"],
        revoked=bool(row["revoked"]),
    )


def _room(row: sqlite3.Row) -> Room:
    return Room(
        id=row["id"],
        name=row["name"],
        kind=RoomKind(row["kind"]),
        created_by=row["created_by"],
        created_at=row["created_at"],
        topic=row["topic"],
        voice=bool(row["voice"]),
    )


class SqliteStore(SqliteConversations):
    """The Store on a single SQLite file: the zero-setup default of chatd.

    Two connections per instance, each on a thread of its own (SqliteThread) so
    the event loop never blocks on disk or on another process's lock. Writes go
    through one, in transactions that an `asyncio.Lock` keeps coroutines of this
    instance from interleaving. Reads go through the other: under WAL they see
    the last commit without waiting for a write in progress, here or in
    another process. Use `SqliteStore.open(path)` and `close()`.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._writer: SqliteThread | None = None
        self._reader: SqliteThread | None = None
        self._lock = asyncio.Lock()
        #: Taken around every write transaction, for writers in other processes.
        self._write_lock = WriteLock(path, BUSY_TIMEOUT_MS / 1000)
        self._appends = AppendBatcher(self._run_write)
        self._checkpointer = Checkpointer(path)
        #: What `open` found and did to the file's schema (for `chatd migrate`).
        self.migration: Migration | None = None

    # -- lifecycle -------------------------------------------------------------
    @classmethod
    async def open(cls, path: Path) -> SqliteStore:
        """Connect to (creating if needed) the file at `path` and migrate it."""
        store = cls(path)
        try:
            await store._connect()
        except BaseException:
            await store.close()
            raise
        return store

    async def _connect(self) -> None:
        make_private_dirs(self.path.parent)
        # Created 0600 before SQLite opens it: SQLite gives the -wal and -shm
        # files it makes the database file's mode. Older ones may be looser.
        private_file(self.path)
        for suffix in ("-wal", "-shm"):
            tighten_file(self.path.with_name(self.path.name + suffix))
        self._write_lock.open()
        self._writer = await self._new_connection("writer")
        # WAL is a property of the file; every process sets it, the first wins.
        await self._writer.execute("PRAGMA journal_mode = WAL")
        # WAL + NORMAL survives a crash of the process (what a restart is);
        # only an OS crash can lose the last commits, never corrupt the file.
        await self._writer.execute("PRAGMA synchronous = NORMAL")
        # A per-connection setting, and only outside a transaction.
        await self._writer.execute("PRAGMA foreign_keys = ON")
        # Deleted messages must be gone from the file, not just unlinked:
        # freed pages are zeroed (FAST: without extra I/O where it can).
        await self._writer.execute("PRAGMA secure_delete = FAST")
        # Checkpoints run in the background (sqlite_checkpoint), not in commits.
        await self._writer.execute(f"PRAGMA wal_autocheckpoint = {BACKSTOP_PAGES}")
        await self._writer.execute(f"PRAGMA journal_size_limit = {JOURNAL_SIZE_LIMIT_BYTES}")
        await self._migrate()
        self._checkpointer.start()
        self._reader = await self._new_connection("reader")
        # A read path that cannot write, so no write can bypass the lock.
        await self._reader.execute("PRAGMA query_only = ON")
        logger.info("sqlite store open at %s", self.path)

    async def _new_connection(self, role: str) -> SqliteThread:
        db = await SqliteThread.open(self.path, f"sqlite-{role}:{self.path.name}")
        try:
            await db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        except BaseException:
            await db.close()
            raise
        return db

    async def close(self) -> None:
        """Close both connections; the instance is unusable afterwards."""
        reader, self._reader = self._reader, None
        if reader is not None:
            await reader.close()
        await self._appends.close()
        await self._checkpointer.close()
        async with self._lock:  # after any write transaction under way
            writer, self._writer = self._writer, None
            if writer is not None:
                await writer.close()
            self._write_lock.close()

    async def _migrate(self) -> None:
        # Inside one IMMEDIATE transaction, so two processes starting on a new
        # file at once do not both run migration 1: the second waits, then
        # reads the version the first committed and finds nothing to do.
        async with self._write() as db:
            version = await scalar(db, "PRAGMA user_version")
            if version > SCHEMA_VERSION:
                raise SchemaTooNew(f"sqlite store {self.path}", version, SCHEMA_VERSION)
            for number, steps in enumerate(MIGRATIONS[version:], start=version + 1):
                for statement in steps:
                    await db.execute(statement)
                # PRAGMA does not take parameters; `number` is our own int.
                await db.execute(f"PRAGMA user_version = {number}")
                logger.info("sqlite store %s migrated to schema version %d", self.path, number)
            self.migration = Migration(f"sqlite store {self.path}", version, SCHEMA_VERSION)

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[SqliteThread]:
        """The read-only connection, for single statements (each its own snapshot)."""
        if self._reader is None:
            raise StoreError("sqlite store is not open")
        with sqlite_failures(self.path):
            yield self._reader

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[SqliteThread]:
        """A `BEGIN IMMEDIATE` transaction: committed on exit, rolled back on error.

        IMMEDIATE takes the file's write lock at BEGIN (waiting up to the busy
        timeout), so what the transaction reads cannot change under it, even
        from another process. A full disk raises StorageFull, a stuck or failing
        file Unavailable (sqlite_errors), after the rollback.
        """
        async with self._lock:
            db = self._writer
            if db is None:
                raise StoreError("sqlite store is not open")
            # Outermost, so a failed commit or rollback is translated too.
            with sqlite_failures(self.path):
                try:
                    # Inside the try: cancelled while waiting here, the thread
                    # may already be taking the lock and beginning (a call it
                    # has started always finishes); the rollback and release
                    # queued after it end both again (no-ops if it never ran).
                    await db.run(_begin_immediate, self._write_lock)
                    yield db
                except BaseException:
                    # Shielded: a second cancellation must not leave the
                    # connection inside an open transaction holding the lock.
                    await asyncio.shield(db.run(_end, self._write_lock, commit=False))
                    raise
                await asyncio.shield(db.run(_end, self._write_lock, commit=True))
                self._checkpointer.wrote()

    async def check(self) -> None:
        async with self._read() as db:
            await scalar(db, "SELECT 1")
        # A file that reads fine may still take no writes: a full disk must fail
        # readiness, not every message. The probe writes next to the database.
        await asyncio.to_thread(probe_writable, self.path.parent, "store")

    # -- epoch -----------------------------------------------------------------
    async def epoch(self) -> str:
        async with self._read() as db:
            value = await scalar(db, "SELECT value FROM store_meta WHERE key = 'epoch'")
        return str(value)

    async def new_epoch(self) -> str:
        epoch = new_id()
        async with self._write() as db:
            await db.execute(
                "INSERT OR REPLACE INTO store_meta (key, value) VALUES ('epoch', ?)", (epoch,)
            )
        return epoch

    # -- users -----------------------------------------------------------------
    async def create_user(self, username: str, password_hash: str) -> User:
        user = User(
            id=new_id(), username=username, password_hash=password_hash, created_at=now_ms()
        )
        try:
            async with self._write() as db:
                await db.execute(
                    "INSERT INTO users (id, username, username_key, password_hash, created_at)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (user.id, username, username_key(username), password_hash, user.created_at),
                )
        except sqlite3.IntegrityError:
            raise Conflict(f"username {username!r} is taken") from None
        return user

    async def get_user(self, user_id: str) -> User | None:
        async with self._read() as db:
            row = await one(db, "SELECT * FROM users WHERE id = ?", (user_id,))
        return None if row is None else _user(row)

    async def get_user_by_name(self, username: str) -> User | None:
        async with self._read() as db:
            row = await one(
                db, "SELECT * FROM users WHERE username_key = ?", (username_key(username),)
            )
        return None if row is None else _user(row)

    async def set_password_hash(self, user_id: str, password_hash: str) -> int:
        async with self._write() as db:
            row = await one(
                db,
                "UPDATE users SET password_hash = ?, token_version = token_version + 1"
                " WHERE id = ? RETURNING token_version",
                (password_hash, user_id),
            )
        if row is None:
            raise StoreError(f"no user {user_id}")
        return int(row[0])

    # -- refresh tokens --------------------------------------------------------
    async def add_refresh_token(self, token: RefreshToken) -> None:
        async with self._write() as db:
            await db.execute(
                "INSERT INTO refresh_tokens (token_hash, family_id, user_id, created_at,"
                " expires_at, used_at, revoked) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    token.token_hash,
                    token.family_id,
                    token.user_id,
                    token.created_at,
                    token.expires_at,
                    token.used_at,
                    int(token.revoked),
                ),
            )

    async def get_refresh_token(self, token_hash: str) -> RefreshToken | None:
        async with self._read() as db:
            row = await one(db, "SELECT * FROM refresh_tokens WHERE token_hash = ?", (token_hash,))
        return None if row is None else _refresh_token(row)

    async def use_refresh_token(self, token_hash: str, now: int) -> RefreshToken | None:
        # One UPDATE ... WHERE used_at IS NULL: of two racing refreshes (any
        # process), exactly one changes the row and gets it back.
        async with self._write() as db:
            row = await one(
                db,
                "UPDATE refresh_tokens SET used_at = ? WHERE token_hash = ?"
                " AND used_at IS NULL AND revoked = 0 RETURNING *",
                (now, token_hash),
            )
        return None if row is None else _refresh_token(row)

    async def revoke_refresh_family(self, family_id: str) -> None:
        async with self._write() as db:
            await db.execute(
                "UPDATE refresh_tokens SET revoked = 1 WHERE family_id = ?", (family_id,)
            )

    async def revoke_user_refresh_tokens(self, user_id: str) -> None:
        async with self._write() as db:
            await db.execute("UPDATE refresh_tokens SET revoked = 1 WHERE user_id = ?", (user_id,))

    # -- revoked access tokens -------------------------------------------------
    async def revoke_access_token(self, jti: str, expires_at: int) -> None:
        async with self._write() as db:
            await db.execute(
                "DELETE FROM revoked_access_tokens WHERE expires_at <= ?", (now_ms() // 1000,)
            )
            await db.execute(
                "INSERT INTO revoked_access_tokens (jti, expires_at) VALUES (?, ?)"
                " ON CONFLICT (jti)"
                " DO UPDATE SET expires_at = max(expires_at, excluded.expires_at)",
                (jti, expires_at),
            )

    async def is_access_token_revoked(self, jti: str) -> bool:
        async with self._read() as db:
            row = await one(
                db,
                "SELECT 1 FROM revoked_access_tokens WHERE jti = ? AND expires_at > ?",
                (jti, now_ms() // 1000),
            )
        return row is not None

    async def purge_expired_tokens(self, now: int) -> int:
        """Delete refresh tokens and revocation entries expired at `now` (epoch ms).

        Neither can matter any more: an expired refresh token is refused anyway,
        and a revoked access token past its `exp` is refused by its signature
        check. Run periodically by `TokenPurger` (MongoDB uses TTL indexes).
        """
        async with self._write() as db:
            tokens = await changes(db, "DELETE FROM refresh_tokens WHERE expires_at <= ?", (now,))
            revocations = await changes(
                db, "DELETE FROM revoked_access_tokens WHERE expires_at <= ?", (now // 1000,)
            )
        return tokens + revocations

    # -- rooms and membership --------------------------------------------------
    async def create_room(self, room: Room) -> Room:
        try:
            async with self._write() as db:
                await db.execute(
                    _INSERT_ROOM,
                    _room_params(room),
                )
        except sqlite3.IntegrityError:
            raise Conflict(f"room {room.id!r} exists") from None
        return room

    async def ensure_room(self, room: Room) -> Room:
        # INSERT OR IGNORE then SELECT, in one write transaction: whichever
        # process gets there first creates it, everyone returns the same row.
        async with self._write() as db:
            await db.execute(
                _INSERT_ROOM.replace("INSERT", "INSERT OR IGNORE", 1),
                _room_params(room),
            )
            row = await one(db, "SELECT * FROM rooms WHERE id = ?", (room.id,))
        if row is None:  # pragma: no cover - the row was just inserted or existed
            raise StoreError(f"room {room.id!r} vanished while being ensured")
        return _room(row)

    async def get_room(self, room_id: str) -> Room | None:
        async with self._read() as db:
            row = await one(db, "SELECT * FROM rooms WHERE id = ?", (room_id,))
        return None if row is None else _room(row)

    async def list_public_rooms(self) -> list[Room]:
        async with self._read() as db:
            rows = await all_rows(
                db,
                "SELECT * FROM rooms WHERE kind = ? ORDER BY id",
                (RoomKind.PUBLIC.value,),
            )
        return [_room(r) for r in rows]

    async def add_member(self, room_id: str, user_id: str, role: str = "member") -> bool:
        _check_role(role)
        try:
            async with self._write() as db:
                # OR IGNORE: joining again keeps the role the member already has
                # (a re-join must not demote an owner).
                added = await changes(
                    db,
                    "INSERT OR IGNORE INTO memberships (room_id, user_id, role, joined_at)"
                    " VALUES (?, ?, ?, ?)",
                    (room_id, user_id, role, now_ms()),
                )
                if added == 1:
                    # Nothing said before joining is unread; a re-join keeps a
                    # later position should the member have had one.
                    await db.execute(
                        "INSERT INTO read_states (room_id, user_id, last_read)"
                        " SELECT id, ?, last_seq FROM rooms WHERE id = ?"
                        " ON CONFLICT (room_id, user_id)"
                        " DO UPDATE SET last_read = max(last_read, excluded.last_read)",
                        (user_id, room_id),
                    )
        except sqlite3.IntegrityError:
            # OR IGNORE does not cover foreign keys: the room does not exist.
            raise StoreError(f"no room {room_id!r}") from None
        return added == 1

    async def remove_member(self, room_id: str, user_id: str) -> bool:
        async with self._write() as db:
            removed = await changes(
                db, "DELETE FROM memberships WHERE room_id = ? AND user_id = ?", (room_id, user_id)
            )
        return removed == 1

    async def is_member(self, room_id: str, user_id: str) -> bool:
        return await self.member_role(room_id, user_id) is not None

    async def member_role(self, room_id: str, user_id: str) -> str | None:
        async with self._read() as db:
            role: str | None = await scalar(
                db,
                "SELECT role FROM memberships WHERE room_id = ? AND user_id = ?",
                (room_id, user_id),
            )
        return role

    async def member_ids(self, room_id: str) -> list[str]:
        async with self._read() as db:
            rows = await all_rows(
                db, "SELECT user_id FROM memberships WHERE room_id = ? ORDER BY user_id", (room_id,)
            )
        return [r["user_id"] for r in rows]

    async def rooms_of(self, user_id: str) -> list[Room]:
        async with self._read() as db:
            rows = await all_rows(
                db,
                "SELECT r.* FROM memberships m JOIN rooms r ON r.id = m.room_id"
                " WHERE m.user_id = ? ORDER BY r.id",
                (user_id,),
            )
        return [_room(r) for r in rows]

    # -- messages --------------------------------------------------------------
    async def append_message(self, new: NewMessage) -> tuple[Message, bool]:
        # Group commit: appends arriving together share one transaction and one
        # trip to the database thread (see sqlite_appends).
        with sqlite_failures(self.path):
            return await self._appends.append(new)

    async def _run_write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn(connection)` on the writer's thread, under the write lock.

        `fn` owns the transaction (BEGIN IMMEDIATE ... COMMIT) and runs as one
        call on the writer's thread: no hop back to the event loop per statement.
        """
        async with self._lock:
            db = self._writer
            if db is None:
                raise StoreError("sqlite store is not open")
            lock = self._write_lock

            def locked(conn: sqlite3.Connection) -> T:
                with lock:
                    return fn(conn)

            result = await db.run(locked)
            self._checkpointer.wrote()
            return result

    async def get_message(self, room_id: str, message_id: str) -> Message | None:
        async with self._read() as db:
            row = await one(
                db,
                "SELECT * FROM messages WHERE id = ? AND room_id = ?",
                (message_id, room_id),
            )
        return None if row is None else message_from_row(row)

    async def messages_before(
        self, room_id: str, before_seq: int | None, limit: int
    ) -> list[Message]:
        if limit <= 0:
            return []
        # The newest `limit` below the cursor, read newest-first through the
        # (room_id, seq) index, then turned round to oldest-first.
        async with self._read() as db:
            if before_seq is None:
                rows = await all_rows(
                    db,
                    "SELECT * FROM messages WHERE room_id = ? ORDER BY seq DESC LIMIT ?",
                    (room_id, limit),
                )
            else:
                rows = await all_rows(
                    db,
                    "SELECT * FROM messages WHERE room_id = ? AND seq < ?"
                    " ORDER BY seq DESC LIMIT ?",
                    (room_id, before_seq, limit),
                )
        return [message_from_row(r) for r in reversed(rows)]

    async def messages_after(self, room_id: str, after_seq: int, limit: int) -> list[Message]:
        if limit <= 0:
            return []
        async with self._read() as db:
            rows = await all_rows(
                db,
                "SELECT * FROM messages WHERE room_id = ? AND seq > ? ORDER BY seq LIMIT ?",
                (room_id, after_seq, limit),
            )
        return [message_from_row(r) for r in rows]

    async def last_seq(self, room_id: str) -> int:
        async with self._read() as db:
            seq: int | None = await scalar(
                db, "SELECT last_seq FROM rooms WHERE id = ?", (room_id,)
            )
        return seq or 0


def _begin_immediate(conn: sqlite3.Connection, lock: WriteLock) -> None:
    """Take the cross-process write lock, then SQLite's (on the writer's thread)."""
    lock.acquire()
    try:
        conn.execute("BEGIN IMMEDIATE")
    except BaseException:
        lock.release()
        raise


def _end(conn: sqlite3.Connection, lock: WriteLock, *, commit: bool) -> None:
    """Commit or roll back the transaction, if one is open, and drop the write lock."""
    try:
        if commit:
            try:
                conn.commit()
            except BaseException:
                # A failed COMMIT may leave the transaction open; the next BEGIN
                # would fail on it.
                if conn.in_transaction:
                    conn.rollback()
                raise
        else:
            conn.rollback()
    finally:
        lock.release()


_ROLES: Final = frozenset({"owner", "moderator", "member"})


def _check_role(role: str) -> None:
    if role not in _ROLES:
        raise ValueError(f"unknown role {role!r} (expected one of {', '.join(sorted(_ROLES))})")


def _room_params(room: Room) -> tuple[str, str, str, str | None, int, str, int]:
    return (
        room.id,
        room.name,
        room.kind.value,
        room.created_by,
        room.created_at,
        room.topic,
        int(room.voice),
    )
