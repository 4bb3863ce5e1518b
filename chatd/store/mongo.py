"""The production Store adapter: MongoDB through Beanie documents.

Every chatd node talks to the same database, so all rules that must hold across
nodes are enforced by MongoDB itself, never by a read-then-write in Python:

- a room's `seq` comes from one atomic `find_one_and_update` + `$inc` on the
  room's document in `room_seqs`, and a unique (room_id, seq) index backs it;
- a client retry is caught by a unique (user_id, nonce) index;
- usernames are unique by a unique index on their casefolded spelling;
- memberships live in their own collection under a unique (room_id, user_id)
  index, so joining twice cannot make two members.

Ids are chatd's own string ids (`chatd.clock.new_id`) stored as `_id`, and
timestamps are integer epoch milliseconds, exactly what goes on the wire.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import suppress
from dataclasses import asdict
from datetime import datetime
from functools import wraps
from typing import Any, ClassVar, Concatenate, Final, ParamSpec, TypeVar

from beanie import Document, SortDirection, init_beanie
from pydantic import BaseModel, Field
from pymongo import ASCENDING, TEXT, AsyncMongoClient, IndexModel, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import (
    ConnectionFailure,
    DuplicateKeyError,
    ExecutionTimeout,
    OperationFailure,
    PyMongoError,
    WaitQueueTimeoutError,
)

from chatd.errors import StorageFull, Unavailable
from chatd.models import (
    Mention,
    Message,
    NewMessage,
    RefreshToken,
    Room,
    RoomKind,
    User,
    message_from_fields,
)
from chatd.store.base import Conflict, Store, StoreError, username_key
from chatd.store.mongo_conversations import (
    CONVERSATION_MODELS,
    MongoConversations,
    move_read_position,
)
from chatd.store.mongo_schema import EPOCH_DOCUMENT_ID, META_COLLECTION, expiry_date, migrate
from chatd.store.schema import Migration, SchemaTooNew
from chatd.util.clock import new_id, now_ms

logger = logging.getLogger(__name__)

T = TypeVar("T")
P = ParamSpec("P")

#: What a serving node does with the store once it is connected (its default room).
OnConnected = Callable[[Store], Awaitable[None]]

#: Used when the URI names no database (mongodb://host:27017).
DEFAULT_DB_NAME: Final = "chatd"

#: How long start-up and /readyz wait for a reachable server before giving up.
#: pymongo's default (30 s) would hold a readiness probe far past its timeout.
SERVER_SELECTION_TIMEOUT_MS: Final = 5000

#: Back-off between attempts to connect when MongoDB is unreachable at start:
#: doubling from 1 s up to 10 s, so a node is serving within about 10 s (plus
#: a server-selection timeout) of MongoDB coming up.
CONNECT_RETRY_INITIAL_SECONDS: Final = 1.0
CONNECT_RETRY_MAX_SECONDS: Final = 10.0

_ROLES: Final = frozenset({"owner", "moderator", "member"})

#: Server error code of a write refused for lack of disk space (OutOfDiskSpace).
_DISK_FULL_CODES: Final = frozenset({14031})
#: Server error codes of a node that cannot serve right now (shutting down,
#: stepped down, mid-election); pymongo raises most as NotPrimaryError already.
_NOT_SERVING_CODES: Final = frozenset({91, 189, 10107, 11600, 11602, 13435, 13436})


class UserDoc(Document):
    """A user account; `username_key` is the casefolded name that must be unique."""

    id: str = Field(default_factory=new_id)  # type: ignore[assignment]
    username: str
    username_key: str
    password_hash: str
    created_at: int
    token_version: int = 0

    class Settings:
        name = "users"
        indexes: ClassVar = [
            IndexModel([("username_key", ASCENDING)], unique=True, name="username_key_unique"),
        ]

    def to_record(self) -> User:
        return User(
            id=self.id,
            username=self.username,
            password_hash=self.password_hash,
            created_at=self.created_at,
            token_version=self.token_version,
        )


class RefreshTokenDoc(Document):
    """One refresh token of a rotation family; `_id` is the token's SHA-256."""

    id: str  # type: ignore[assignment]
    family_id: str
    user_id: str
    created_at: int
    expires_at: int
    used_at: int | None = None
    revoked: bool = False
    #: `expires_at` as a BSON date, for the TTL index (which needs one).
    expires_on: datetime | None = None

    class Settings:
        name = "refresh_tokens"
        indexes: ClassVar = [
            IndexModel([("family_id", ASCENDING)], name="family"),
            IndexModel([("user_id", ASCENDING)], name="user"),
            # The server deletes each token once expired (within a minute:
            # its TTL monitor's period). Nothing reads expired ones.
            IndexModel([("expires_on", ASCENDING)], expireAfterSeconds=0, name="expiry_ttl"),
        ]

    def to_record(self) -> RefreshToken:
        return RefreshToken(
            token_hash=self.id,
            family_id=self.family_id,
            user_id=self.user_id,
            created_at=self.created_at,
            expires_at=self.expires_at,
            used_at=self.used_at,
            revoked=self.revoked,
        )


class RevokedAccessTokenDoc(Document):
    """A logged-out access token (`_id` is its jti), refused until `expires_at`."""

    id: str  # type: ignore[assignment]
    #: Epoch seconds (the token's `exp`); an int, like every chatd time.
    expires_at: int
    #: `expires_at` as a BSON date, for the TTL index (which needs one).
    expires_on: datetime | None = None

    class Settings:
        name = "revoked_access_tokens"
        indexes: ClassVar = [
            IndexModel([("expires_at", ASCENDING)], name="expiry"),
            # Deleted by the server once the token has expired anyway.
            IndexModel([("expires_on", ASCENDING)], expireAfterSeconds=0, name="expiry_ttl"),
        ]


class RoomDoc(Document):
    """A room. Its seq counter lives apart, in `RoomSeqDoc`, so that saving a
    room (say, a new topic) can never write back a stale counter."""

    id: str  # type: ignore[assignment]
    name: str
    kind: RoomKind
    created_by: str | None = None
    created_at: int
    topic: str = ""
    voice: bool = False

    class Settings:
        name = "rooms"
        indexes: ClassVar = [IndexModel([("kind", ASCENDING)], name="kind")]

    @classmethod
    def from_record(cls, room: Room) -> RoomDoc:
        return cls(
            id=room.id,
            name=room.name,
            kind=room.kind,
            created_by=room.created_by,
            created_at=room.created_at,
            topic=room.topic,
            voice=room.voice,
        )

    def to_record(self) -> Room:
        return Room(
            id=self.id,
            name=self.name,
            kind=RoomKind(self.kind),
            created_by=self.created_by,
            created_at=self.created_at,
            topic=self.topic,
            voice=self.voice,
        )


class RoomSeqDoc(Document):
    """The last seq handed out in a room (`_id` is the room id).

    Created with the room, so a `$inc` that finds no counter means "no such
    room" and an append to a mistyped room id fails instead of starting one.
    """

    id: str  # type: ignore[assignment]
    seq: int = 0
    #: The latest message's ts, moved by the same `$inc` that takes its seq.
    last_ts: int | None = None

    class Settings:
        name = "room_seqs"


class MembershipDoc(Document):
    """One user's membership of one room, with their role there."""

    id: str = Field(default_factory=new_id)  # type: ignore[assignment]
    room_id: str
    user_id: str
    role: str
    joined_at: int

    class Settings:
        name = "memberships"
        indexes: ClassVar = [
            IndexModel(
                [("room_id", ASCENDING), ("user_id", ASCENDING)],
                unique=True,
                name="room_user_unique",
            ),
            # rooms_of(user) without a collection scan. Not (user_id, room_id):
            # Beanie keys indexes by their sorted field names, so that one
            # would silently replace the unique index above.
            IndexModel([("user_id", ASCENDING)], name="user"),
        ]


class AttachmentModel(BaseModel):
    """An `Attachment` as embedded in a message document."""

    key: str
    name: str
    size: int
    content_type: str
    width: int | None = None
    height: int | None = None
    thumbnail_key: str | None = None


class MentionModel(BaseModel):
    """A `Mention` as embedded in a message document."""

    user_id: str
    username: str


class MessageDoc(Document):
    """A stored message, addressed within its room by `seq`."""

    id: str = Field(default_factory=new_id)  # type: ignore[assignment]
    room_id: str
    seq: int
    user_id: str
    username: str
    text: str
    ts: int
    message_type: str = "text"
    nonce: str | None = None
    thread_id: str | None = None
    attachments: list[AttachmentModel] = Field(default_factory=list)
    edited_at: int | None = None
    thread_count: int = 0
    thread_last_ts: int | None = None
    mentions: list[MentionModel] = Field(default_factory=list)
    mentions_room: bool = False

    class Settings:
        name = "messages"
        indexes: ClassVar = [
            # History paging is a seq range per room; unique as a last line of
            # defence should a counter ever fall behind the stored messages.
            IndexModel([("room_id", ASCENDING), ("seq", ASCENDING)], unique=True, name="room_seq"),
            # Retries of one client message. Only string nonces are indexed:
            # messages without a nonce store null and must not collide.
            IndexModel(
                [("user_id", ASCENDING), ("nonce", ASCENDING)],
                unique=True,
                partialFilterExpression={"nonce": {"$type": "string"}},
                name="user_nonce_unique",
            ),
            # Thread pages; only replies are indexed.
            IndexModel(
                [("thread_id", ASCENDING), ("seq", ASCENDING)],
                partialFilterExpression={"thread_id": {"$type": "string"}},
                name="thread_seq",
            ),
            # Full-text search. Language "none": whole words, any letter case,
            # no stemming or stop words - what the SQLite adapter's FTS5 does.
            IndexModel([("text", TEXT)], default_language="none", name="text_search"),
        ]

    def to_record(self) -> Message:
        return message_from_fields(self.model_dump())


#: Every document class init_beanie must bind to the database.
DOCUMENT_MODELS: Final = (
    UserDoc,
    RefreshTokenDoc,
    RevokedAccessTokenDoc,
    RoomDoc,
    RoomSeqDoc,
    MembershipDoc,
    MessageDoc,
    *CONVERSATION_MODELS,
)


class MongoStore(MongoConversations):
    """The Store on MongoDB, shared by every node of a multi-node chatd.

    Open with `MongoStore.open(uri)` and `close()`. Beanie binds its document
    classes to one database per process, so a process holds one MongoStore
    at a time (opening another rebinds them).
    """

    def __init__(self, client: AsyncMongoClient[dict[str, Any]], database_name: str) -> None:
        self._client = client
        #: False until the documents are bound and the schema migrated: until
        #: then every Store method raises Unavailable (Beanie's documents cannot
        #: be used before init_beanie).
        self._connected = False
        #: Why it is not connected yet, for readiness and 503s.
        self._not_connected = "connecting"
        self._connector: asyncio.Task[None] | None = None
        self.database: AsyncDatabase[dict[str, Any]] = client[database_name]
        # Appends with a nonce now running in this process, by (user_id, nonce).
        self._inflight: dict[tuple[str, str], asyncio.Future[Message]] = {}
        # Writes under way, kept so that close() can let them finish.
        self._writes: set[asyncio.Future[Any]] = set()
        #: What `open` found and did to the database's schema (for `chatd migrate`).
        self.migration: Migration | None = None

    # -- lifecycle -------------------------------------------------------------
    @classmethod
    async def open(cls, uri: str, db_name: str | None = None) -> MongoStore:
        """Connect, bind the documents and migrate (chatd/store/mongo_schema.py).

        The database is `db_name`, else the one the URI's path names, else "chatd".
        Raises SchemaTooNew, touching nothing, on a database of a newer chatd.
        """
        store = cls._unconnected(uri, db_name)
        try:
            await store._connect()
        except BaseException:
            await store._client.close()
            raise
        return store

    @classmethod
    async def start(
        cls,
        uri: str,
        on_connected: OnConnected,
        *,
        retry_initial: float = CONNECT_RETRY_INITIAL_SECONDS,
        retry_max: float = CONNECT_RETRY_MAX_SECONDS,
    ) -> MongoStore:
        """`open` for a serving node: a MongoDB it cannot reach yet does not stop it.

        Then the store is returned unconnected (every Store method raises
        Unavailable, so /readyz and the edges answer 503) and connects in the
        background with capped back-off. `on_connected` runs once it is
        connected (at once if it was). Other failures (SchemaTooNew) raise.
        """
        store = cls._unconnected(uri, None)
        try:
            await store._connect()
        except PyMongoError as exc:
            failure = _mongo_failure(exc)
            if not isinstance(failure, Unavailable):
                await store._client.close()
                raise
            store._not_connected = str(failure)
            logger.warning("store unavailable at start (%s); retrying in the background", failure)
            store._connector = asyncio.create_task(
                store._keep_connecting(on_connected, retry_initial, retry_max),
                name="mongo-connect",
            )
            return store
        except BaseException:
            await store._client.close()
            raise
        await on_connected(store)
        return store

    @classmethod
    def _unconnected(cls, uri: str, db_name: str | None) -> MongoStore:
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            uri, serverSelectionTimeoutMS=SERVER_SELECTION_TIMEOUT_MS
        )
        return cls(client, db_name or client.get_default_database(DEFAULT_DB_NAME).name)

    async def _connect(self) -> None:
        # Indexes are mongo_schema's: Beanie's own pass re-creates every
        # index it cannot match, and fails on a populated database for
        # servers that do not list some (nx-27017's text indexes).
        await init_beanie(
            database=self.database, document_models=list(DOCUMENT_MODELS), skip_indexes=True
        )
        self.migration = await migrate(self.database, DOCUMENT_MODELS)
        self._connected = True
        logger.info("mongo store open on database %s", self.database.name)

    async def _keep_connecting(
        self, on_connected: OnConnected, delay: float, retry_max: float
    ) -> None:
        while True:
            # Jitter spreads the attempts of many nodes waiting for one server.
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, retry_max)
            try:
                if not self._connected:
                    await self._connect()
                await on_connected(self)
                return
            except PyMongoError as exc:
                failure = _mongo_failure(exc)
                if failure is None:
                    raise
                self._not_connected = str(failure)
                logger.debug("mongo connect failed: %s", failure)
            except Unavailable as exc:  # on_connected met an outage: try it again
                logger.debug("mongo store set-up failed: %s", exc)
            except SchemaTooNew as exc:
                # A newer chatd's database: nothing to retry; readiness says why.
                self._not_connected = f"mongodb: {exc}"
                logger.error("mongo store cannot be used: %s", exc)
                return
            except Exception:
                logger.exception("mongo store set-up failed; retrying")

    async def close(self) -> None:
        """Let appends under way finish, then close the client and its pool."""
        if self._connector is not None:
            self._connector.cancel()
            with suppress(asyncio.CancelledError):
                await self._connector
        if self._writes:
            await asyncio.gather(*self._writes, return_exceptions=True)
        await self._client.close()

    async def check(self) -> None:
        await self.database.command("ping")

    # -- epoch -----------------------------------------------------------------
    async def epoch(self) -> str:
        doc = await self.database[META_COLLECTION].find_one({"_id": EPOCH_DOCUMENT_ID})
        if doc is None:
            # Migration 2 made it; only a hand-edited database lacks it.
            raise StoreError("the store has no epoch; run `chatd epoch --new`")
        return str(doc["value"])

    async def new_epoch(self) -> str:
        epoch = new_id()
        await self.database[META_COLLECTION].update_one(
            {"_id": EPOCH_DOCUMENT_ID}, {"$set": {"value": epoch}}, upsert=True
        )
        return epoch

    @staticmethod
    def _seqs() -> AsyncCollection[dict[str, Any]]:
        collection: AsyncCollection[dict[str, Any]] = RoomSeqDoc.get_pymongo_collection()
        return collection

    # -- what MongoConversations builds on ---------------------------------------------------
    def _seq_collection(self) -> AsyncCollection[dict[str, Any]]:
        return self._seqs()

    def _message_collection(self) -> AsyncCollection[dict[str, Any]]:
        collection: AsyncCollection[dict[str, Any]] = MessageDoc.get_pymongo_collection()
        return collection

    def _message_record(self, raw: dict[str, Any]) -> Message:
        doc: MessageDoc = MessageDoc.model_validate(raw)
        return doc.to_record()

    def _mention_fields(self, mentions: tuple[Mention, ...]) -> list[dict[str, Any]]:
        return [MentionModel(**asdict(m)).model_dump() for m in mentions]

    async def _shielded(self, work: Coroutine[Any, Any, T]) -> T:
        """Run a multi-write operation to its end even if the caller is cancelled.

        A caller cancelled half-way (say, its socket closed) must not cut it
        between taking a seq and logging the event; close() waits for these.
        """
        task = asyncio.ensure_future(work)
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)
        return await asyncio.shield(task)

    # -- users -----------------------------------------------------------------
    async def create_user(self, username: str, password_hash: str) -> User:
        doc = UserDoc(
            username=username,
            username_key=username_key(username),
            password_hash=password_hash,
            created_at=now_ms(),
        )
        try:
            await doc.insert()
        except DuplicateKeyError:
            raise Conflict(f"username {username!r} is taken") from None
        return doc.to_record()

    async def get_user(self, user_id: str) -> User | None:
        doc = await UserDoc.get(user_id)
        return None if doc is None else doc.to_record()

    async def get_user_by_name(self, username: str) -> User | None:
        doc = await UserDoc.find_one({"username_key": username_key(username)})
        return None if doc is None else doc.to_record()

    async def set_password_hash(self, user_id: str, password_hash: str) -> int:
        collection = UserDoc.get_pymongo_collection()
        raw = await collection.find_one_and_update(
            {"_id": user_id},
            {"$set": {"password_hash": password_hash}, "$inc": {"token_version": 1}},
            return_document=ReturnDocument.AFTER,
        )
        if raw is None:
            raise StoreError(f"no user {user_id}")
        return int(raw["token_version"])

    # -- refresh tokens --------------------------------------------------------
    async def add_refresh_token(self, token: RefreshToken) -> None:
        await RefreshTokenDoc(
            id=token.token_hash,
            family_id=token.family_id,
            user_id=token.user_id,
            created_at=token.created_at,
            expires_at=token.expires_at,
            used_at=token.used_at,
            revoked=token.revoked,
            expires_on=expiry_date(token.expires_at),
        ).insert()

    async def get_refresh_token(self, token_hash: str) -> RefreshToken | None:
        doc = await RefreshTokenDoc.get(token_hash)
        return None if doc is None else doc.to_record()

    async def use_refresh_token(self, token_hash: str, now: int) -> RefreshToken | None:
        # One conditional find_one_and_update: of two racing nodes, one wins.
        collection = RefreshTokenDoc.get_pymongo_collection()
        raw = await collection.find_one_and_update(
            {"_id": token_hash, "used_at": None, "revoked": False},
            {"$set": {"used_at": now}},
            return_document=ReturnDocument.AFTER,
        )
        return None if raw is None else RefreshTokenDoc.model_validate(raw).to_record()

    async def revoke_refresh_family(self, family_id: str) -> None:
        await RefreshTokenDoc.find({"family_id": family_id}).update_many(
            {"$set": {"revoked": True}}
        )

    async def revoke_user_refresh_tokens(self, user_id: str) -> None:
        await RefreshTokenDoc.find({"user_id": user_id}).update_many({"$set": {"revoked": True}})

    # -- revoked access tokens -------------------------------------------------
    async def revoke_access_token(self, jti: str, expires_at: int) -> None:
        collection = RevokedAccessTokenDoc.get_pymongo_collection()
        # The TTL index deletes expired entries within a minute; this delete
        # (on logouts, which are rare) keeps the collection exact meanwhile.
        await collection.delete_many({"expires_at": {"$lte": now_ms() // 1000}})
        await collection.update_one(
            {"_id": jti},
            {"$max": {"expires_at": expires_at, "expires_on": expiry_date(expires_at * 1000)}},
            upsert=True,
        )

    async def is_access_token_revoked(self, jti: str) -> bool:
        collection = RevokedAccessTokenDoc.get_pymongo_collection()
        found = await collection.find_one(
            {"_id": jti, "expires_at": {"$gt": now_ms() // 1000}}, projection={"_id": 1}
        )
        return found is not None

    # -- rooms and membership --------------------------------------------------
    async def _ensure_seq_counter(self, room_id: str) -> None:
        """Create the room's counter at 0 unless it exists (a no-op then).

        Done before the room is inserted: a crash in between leaves only a
        harmless counter, never a room whose messages cannot be stored.
        """
        # DuplicateKeyError: two upserts raced and the other one inserted it,
        # which is all we wanted.
        with suppress(DuplicateKeyError):
            await self._seqs().update_one(
                {"_id": room_id}, {"$setOnInsert": {"seq": 0}}, upsert=True
            )

    async def create_room(self, room: Room) -> Room:
        await self._ensure_seq_counter(room.id)
        try:
            await RoomDoc.from_record(room).insert()
        except DuplicateKeyError:
            raise Conflict(f"room {room.id!r} exists") from None
        return room

    async def ensure_room(self, room: Room) -> Room:
        # Insert, and if someone else's insert won, read theirs: the unique _id
        # decides, so any number of nodes ensuring at once agree on one room.
        await self._ensure_seq_counter(room.id)
        try:
            await RoomDoc.from_record(room).insert()
        except DuplicateKeyError:
            existing = await RoomDoc.get(room.id)
            if existing is None:  # pragma: no cover - rooms are never deleted
                raise StoreError(f"room {room.id!r} vanished while being ensured") from None
            return existing.to_record()
        return room

    async def get_room(self, room_id: str) -> Room | None:
        doc = await RoomDoc.get(room_id)
        return None if doc is None else doc.to_record()

    async def list_public_rooms(self) -> list[Room]:
        docs = (
            await RoomDoc.find({"kind": RoomKind.PUBLIC.value})
            .sort([("_id", SortDirection.ASCENDING)])
            .to_list()
        )
        return [d.to_record() for d in docs]

    async def add_member(self, room_id: str, user_id: str, role: str = "member") -> bool:
        if role not in _ROLES:
            raise ValueError(f"unknown role {role!r} (expected one of {', '.join(sorted(_ROLES))})")
        # The SQLite adapter refuses members of a missing room by foreign key;
        # here it takes one look-up (joins are rare next to messages).
        if not await RoomDoc.find_one({"_id": room_id}).exists():
            raise StoreError(f"no room {room_id!r}")
        try:
            await MembershipDoc(
                room_id=room_id, user_id=user_id, role=role, joined_at=now_ms()
            ).insert()
        except DuplicateKeyError:
            # Already a member: keep the role they have (a re-join must not demote an owner).
            return False
        # Nothing said before joining is unread for the new member.
        counter = await self._seqs().find_one({"_id": room_id})
        await move_read_position(room_id, user_id, 0 if counter is None else int(counter["seq"]))
        return True

    async def remove_member(self, room_id: str, user_id: str) -> bool:
        result = await MembershipDoc.get_pymongo_collection().delete_one(
            {"room_id": room_id, "user_id": user_id}
        )
        return bool(result.deleted_count == 1)

    async def is_member(self, room_id: str, user_id: str) -> bool:
        return await self.member_role(room_id, user_id) is not None

    async def member_role(self, room_id: str, user_id: str) -> str | None:
        doc = await MembershipDoc.find_one({"room_id": room_id, "user_id": user_id})
        return None if doc is None else doc.role

    async def member_ids(self, room_id: str) -> list[str]:
        docs = (
            await MembershipDoc.find({"room_id": room_id})
            .sort([("user_id", SortDirection.ASCENDING)])
            .to_list()
        )
        return [d.user_id for d in docs]

    async def rooms_of(self, user_id: str) -> list[Room]:
        memberships = await MembershipDoc.find({"user_id": user_id}).to_list()
        if not memberships:
            return []
        docs = (
            await RoomDoc.find({"_id": {"$in": [m.room_id for m in memberships]}})
            .sort([("_id", SortDirection.ASCENDING)])
            .to_list()
        )
        return [d.to_record() for d in docs]

    # -- messages --------------------------------------------------------------
    async def _find_retry(self, new: NewMessage) -> MessageDoc | None:
        if new.nonce is None:
            return None
        return await MessageDoc.find_one({"user_id": new.user_id, "nonce": new.nonce})

    async def _give_back_seq(self, room_id: str, seq: int) -> None:
        """Undo our `$inc` if no one has taken a seq after it, so no gap is left.

        Only called when our insert certainly did not happen. If someone has
        allocated since, the counter moved on and this matches nothing: the
        gap stays (see append_message).
        """
        result = await self._seqs().update_one({"_id": room_id, "seq": seq}, {"$inc": {"seq": -1}})
        if result.modified_count == 0:
            logger.warning("room %s: seq %d was allocated but not used (gap)", room_id, seq)

    async def append_message(self, new: NewMessage) -> tuple[Message, bool]:
        # Shielded: a caller cancelled half-way must not leave a gap.
        return await self._shielded(self._append_deduplicated(new))

    async def _append_deduplicated(self, new: NewMessage) -> tuple[Message, bool]:
        if new.nonce is None:
            return await self._append(new)
        # A retry that overtakes the first attempt inside this process waits
        # for it instead of racing it: the race would be settled by the unique
        # index, but only after the loser had taken a seq (a possible gap).
        key = (new.user_id, new.nonce)
        while (pending := self._inflight.get(key)) is not None:
            await asyncio.wait([pending])
            if not pending.cancelled():
                return pending.result(), False
            # The first attempt failed; try again ourselves.
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            message, created = await self._append(new)
        except BaseException:
            # Waiters see a cancelled future and retry; an exception set on it
            # could go unretrieved and be logged as an error by asyncio.
            future.cancel()
            raise
        else:
            future.set_result(message)
        finally:
            del self._inflight[key]
        return message, created

    async def _append(self, new: NewMessage) -> tuple[Message, bool]:
        # A retry is looked up before a seq is taken, so retries cost no seq.
        existing = await self._find_retry(new)
        if existing is not None:
            return existing.to_record(), False

        # Counter and message are two writes (a standalone MongoDB has no
        # multi-document transactions). Only a node dying between them, or the
        # same nonce arriving at two nodes at the same moment, can leave a gap.
        ts = now_ms()
        counter = await self._seqs().find_one_and_update(
            {"_id": new.room_id},
            {"$inc": {"seq": 1}, "$max": {"last_ts": ts}},
            return_document=ReturnDocument.AFTER,
        )
        if counter is None:
            raise StoreError(f"no room {new.room_id!r}")
        seq = int(counter["seq"])

        doc = MessageDoc(**asdict(new.stored(message_id=new_id(), seq=seq, ts=ts)))
        try:
            await doc.insert()
        except DuplicateKeyError as exc:
            # pymongo may resend an insert whose reply was lost: then the
            # "duplicate" is our own document, stored once.
            if await MessageDoc.get(doc.id) is not None:
                await self.record_new_message(doc.to_record())
                return doc.to_record(), True
            # The same (user, nonce) raced us from elsewhere and won.
            raced = await self._find_retry(new)
            if raced is not None:
                await asyncio.shield(self._give_back_seq(new.room_id, seq))
                return raced.to_record(), False
            raise StoreError(f"room {new.room_id!r}: seq {seq} is already taken") from exc
        message = doc.to_record()
        await self.record_new_message(message)
        return message, True

    async def get_message(self, room_id: str, message_id: str) -> Message | None:
        doc = await MessageDoc.find_one({"_id": message_id, "room_id": room_id})
        return None if doc is None else doc.to_record()

    async def messages_before(
        self, room_id: str, before_seq: int | None, limit: int
    ) -> list[Message]:
        if limit <= 0:
            return []
        query: dict[str, Any] = {"room_id": room_id}
        if before_seq is not None:
            query["seq"] = {"$lt": before_seq}
        # Newest `limit` below the cursor through the (room_id, seq) index,
        # then turned round to oldest-first.
        docs = (
            await MessageDoc.find(query)
            .sort([("seq", SortDirection.DESCENDING)])
            .limit(limit)
            .to_list()
        )
        return [d.to_record() for d in reversed(docs)]

    async def messages_after(self, room_id: str, after_seq: int, limit: int) -> list[Message]:
        if limit <= 0:
            return []
        docs = (
            await MessageDoc.find({"room_id": room_id, "seq": {"$gt": after_seq}})
            .sort([("seq", SortDirection.ASCENDING)])
            .limit(limit)
            .to_list()
        )
        return [d.to_record() for d in docs]

    async def last_seq(self, room_id: str) -> int:
        counter = await self._seqs().find_one({"_id": room_id})
        return 0 if counter is None else int(counter["seq"])


def _mongo_failure(exc: PyMongoError) -> StorageFull | Unavailable | None:
    """The port exception for a MongoDB outage or full disk, else None."""
    if isinstance(exc, ConnectionFailure | ExecutionTimeout | WaitQueueTimeoutError):
        # ConnectionFailure covers no server selectable within the timeout,
        # network errors and timeouts, and a primary that stepped down.
        return Unavailable("store", f"mongodb: {type(exc).__name__}: {exc}")
    if isinstance(exc, OperationFailure):
        if exc.code in _DISK_FULL_CODES:
            return StorageFull("store", f"mongodb: disk full ({exc})")
        if exc.code in _NOT_SERVING_CODES:
            return Unavailable("store", f"mongodb: {exc}")
    return None


def _translating(
    method: Callable[Concatenate[MongoStore, P], Awaitable[T]],
) -> Callable[Concatenate[MongoStore, P], Coroutine[Any, Any, T]]:
    """`method`, raising StorageFull/Unavailable for pymongo's outage errors,
    and Unavailable while the store has not connected yet."""

    @wraps(method)
    async def translated(store: MongoStore, /, *args: P.args, **kwargs: P.kwargs) -> T:
        if not store._connected:
            raise Unavailable("store", f"not connected yet ({store._not_connected})")
        try:
            return await method(store, *args, **kwargs)
        except PyMongoError as exc:
            failure = _mongo_failure(exc)
            if failure is None:
                raise
            raise failure from exc

    return translated


# Beanie and pymongo calls are spread over every method, so the translation is
# put on the port's surface: every Store method of MongoStore, in one place.
for _name in sorted(Store.__abstractmethods__):
    setattr(MongoStore, _name, _translating(getattr(MongoStore, _name)))
