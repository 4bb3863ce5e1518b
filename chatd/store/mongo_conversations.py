"""The MongoDB adapter's conversation features: the room event log, edits, deletes,
reactions, threads, read state and full-text search (`$text`).

A standalone MongoDB has no multi-document transactions, so each operation is
ordered so that what other nodes can observe is always safe:

1. the state change itself, as one atomic single-document write (or refused);
2. the seq, from the room's `$inc` counter (the same one messages use);
3. the event document, last: an event in the log means its state is stored,
   so a node filling a gap from the log never rebuilds a frame from a state
   that is not there yet.

Nothing is ever read-then-written in Python where two nodes could race:
reactions are documents under a unique (message_id, emoji, user_id) index,
read positions move by `$max`, thread counters by `$inc`.

Mixed into `MongoStore`, which provides the message collection and counters.
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Coroutine, Sequence
from typing import Any, ClassVar, Final, TypeVar

from beanie import Document, SortDirection
from pydantic import Field
from pymongo import ASCENDING, IndexModel, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

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
from chatd.util.clock import new_id, now_ms

T = TypeVar("T")

#: Stands for "everyone" among the mention documents (no user id looks like it).
ROOM_MENTION: Final = "@room"

Raw = dict[str, Any]


class EventDoc(Document):
    """One seq'd room event. No message content: frames are rebuilt from the
    message as it is now, so a delete leaves no copy of the text here."""

    id: str = Field(default_factory=new_id)  # type: ignore[assignment]
    room_id: str
    seq: int
    kind: EventKind
    message_id: str
    ts: int
    payload: dict[str, str] = Field(default_factory=dict)

    class Settings:
        name = "room_events"
        indexes: ClassVar = [
            IndexModel([("room_id", ASCENDING), ("seq", ASCENDING)], unique=True, name="room_seq"),
        ]


class ReactionDoc(Document):
    """One user's emoji on one message; the unique index makes reacting idempotent."""

    id: str = Field(default_factory=new_id)  # type: ignore[assignment]
    message_id: str
    room_id: str
    emoji: str
    user_id: str
    #: The seq of the event that added it (0 for the instant before it is known).
    seq: int = 0

    class Settings:
        name = "reactions"
        indexes: ClassVar = [
            IndexModel(
                [("message_id", ASCENDING), ("emoji", ASCENDING), ("user_id", ASCENDING)],
                unique=True,
                name="message_emoji_user_unique",
            ),
        ]


class MentionDoc(Document):
    """A message's mention of a member (or of `@room`), for unread mention counts."""

    id: str = Field(default_factory=new_id)  # type: ignore[assignment]
    user_id: str
    room_id: str
    seq: int
    message_id: str
    author_id: str

    class Settings:
        name = "mentions"
        indexes: ClassVar = [
            IndexModel(
                [("user_id", ASCENDING), ("room_id", ASCENDING), ("seq", ASCENDING)],
                name="user_room_seq",
            ),
            IndexModel([("message_id", ASCENDING)], name="message"),
        ]


class ReadStateDoc(Document):
    """A member's read position in a room; `_id` is "<room_id>:<user_id>"."""

    id: str  # type: ignore[assignment]
    room_id: str
    user_id: str
    last_read: int = 0

    class Settings:
        name = "read_states"
        indexes: ClassVar = [
            IndexModel([("room_id", ASCENDING)], name="room"),
            IndexModel([("user_id", ASCENDING)], name="user"),
        ]


#: The document classes this module adds to the database.
CONVERSATION_MODELS: Final = (EventDoc, ReactionDoc, MentionDoc, ReadStateDoc)


def read_state_id(room_id: str, user_id: str) -> str:
    return f"{room_id}:{user_id}"


def text_search(terms: Sequence[str]) -> str:
    """Every term as a quoted phrase: MongoDB matches documents with all of them."""
    return " ".join('"' + term.replace('"', " ") + '"' for term in terms)


def mention_docs(message: Message) -> list[MentionDoc]:
    targets = {m.user_id for m in message.mentions}
    if message.mentions_room:
        targets.add(ROOM_MENTION)
    return [
        MentionDoc(
            user_id=target,
            room_id=message.room_id,
            seq=message.seq,
            message_id=message.id,
            author_id=message.user_id,
        )
        for target in sorted(targets)
    ]


async def move_read_position(room_id: str, user_id: str, seq: int) -> int:
    """`$max` the read position (upserting it); two racing upserts: retry the loser."""
    collection = ReadStateDoc.get_pymongo_collection()
    for _ in range(2):
        try:
            # The equality fields of the filter become the new document's
            # fields on insert.
            raw = await collection.find_one_and_update(
                {"_id": read_state_id(room_id, user_id), "room_id": room_id, "user_id": user_id},
                {"$max": {"last_read": seq}},
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
        except DuplicateKeyError:
            continue
        if raw is None:  # pragma: no cover - an upsert always returns the document
            raise StoreError(f"read position of {user_id} in {room_id!r} was not stored")
        return int(raw["last_read"])
    raise StoreError(f"read position of {user_id} in {room_id!r} kept conflicting")


class MongoConversations(Store):
    """The ConversationStore half of the Store on MongoDB (MongoStore completes it)."""

    # -- what MongoStore provides (abstract: mypy and abc check that it does) ------------
    @abc.abstractmethod
    def _seq_collection(self) -> AsyncCollection[Raw]:
        """The per-room seq counters."""

    @abc.abstractmethod
    def _message_collection(self) -> AsyncCollection[Raw]:
        """The messages, as raw documents."""

    @abc.abstractmethod
    def _message_record(self, raw: Raw) -> Message:
        """A raw message document as a record."""

    @abc.abstractmethod
    def _mention_fields(self, mentions: tuple[Mention, ...]) -> list[Raw]:
        """Mentions as stored in a message document."""

    @abc.abstractmethod
    async def _shielded(self, work: Coroutine[Any, Any, T]) -> T:
        """Run a multi-write operation to its end even if the caller is cancelled."""

    async def _next_seq(self, room_id: str) -> int:
        counter = await self._seq_collection().find_one_and_update(
            {"_id": room_id}, {"$inc": {"seq": 1}}, return_document=ReturnDocument.AFTER
        )
        if counter is None:
            raise StoreError(f"no room {room_id!r}")
        return int(counter["seq"])

    async def _log(
        self,
        room_id: str,
        seq: int,
        kind: EventKind,
        message_id: str,
        *,
        ts: int,
        payload: dict[str, str] | None = None,
    ) -> None:
        await EventDoc(
            room_id=room_id,
            seq=seq,
            kind=kind,
            message_id=message_id,
            ts=ts,
            payload=payload or {},
        ).insert()

    async def record_new_message(self, message: Message) -> None:
        """The rest of an append, after the message is stored: mentions, thread
        counts, and (last) the event."""
        docs = mention_docs(message)
        if docs:
            await MentionDoc.insert_many(docs)
        if message.thread_id is not None:
            await self._message_collection().update_one(
                {"_id": message.thread_id, "room_id": message.room_id},
                {"$inc": {"thread_count": 1}, "$max": {"thread_last_ts": message.ts}},
            )
        await self._log(message.room_id, message.seq, EventKind.MESSAGE, message.id, ts=message.ts)

    # -- edits and deletes -----------------------------------------------------------------
    async def edit_message(
        self,
        room_id: str,
        message_id: str,
        text: str,
        *,
        mentions: tuple[Mention, ...] = (),
        mentions_room: bool = False,
    ) -> tuple[Message, int] | None:
        return await self._shielded(self._edit(room_id, message_id, text, mentions, mentions_room))

    async def _edit(
        self,
        room_id: str,
        message_id: str,
        text: str,
        mentions: tuple[Mention, ...],
        mentions_room: bool,
    ) -> tuple[Message, int] | None:
        edited_at = now_ms()
        raw = await self._message_collection().find_one_and_update(
            {"_id": message_id, "room_id": room_id},
            {
                "$set": {
                    "text": text,
                    "edited_at": edited_at,
                    "mentions": self._mention_fields(mentions),
                    "mentions_room": mentions_room,
                }
            },
            return_document=ReturnDocument.AFTER,
        )
        if raw is None:
            return None
        message = self._message_record(raw)
        await MentionDoc.get_pymongo_collection().delete_many({"message_id": message_id})
        docs = mention_docs(message)
        if docs:
            await MentionDoc.insert_many(docs)
        seq = await self._next_seq(room_id)
        await self._log(room_id, seq, EventKind.EDIT, message_id, ts=edited_at)
        return message, seq

    async def delete_message(self, room_id: str, message_id: str) -> tuple[Message, int] | None:
        return await self._shielded(self._delete(room_id, message_id))

    async def _delete(self, room_id: str, message_id: str) -> tuple[Message, int] | None:
        messages = self._message_collection()
        raw = await messages.find_one_and_delete({"_id": message_id, "room_id": room_id})
        if raw is None:
            return None
        message = self._message_record(raw)
        await ReactionDoc.get_pymongo_collection().delete_many({"message_id": message_id})
        await MentionDoc.get_pymongo_collection().delete_many({"message_id": message_id})
        if message.thread_id is not None:
            latest = await messages.find_one(
                {"room_id": room_id, "thread_id": message.thread_id},
                sort=[("seq", SortDirection.DESCENDING)],
            )
            await messages.update_one(
                {"_id": message.thread_id, "room_id": room_id, "thread_count": {"$gt": 0}},
                {
                    "$inc": {"thread_count": -1},
                    "$set": {"thread_last_ts": None if latest is None else latest["ts"]},
                },
            )
        seq = await self._next_seq(room_id)
        await self._log(room_id, seq, EventKind.DELETE, message_id, ts=now_ms())
        return message, seq

    # -- reactions -------------------------------------------------------------------------
    async def _message_seq(self, room_id: str, message_id: str) -> int | None:
        raw = await self._message_collection().find_one(
            {"_id": message_id, "room_id": room_id}, projection={"seq": True}
        )
        return None if raw is None else int(raw["seq"])

    async def add_reaction(
        self, room_id: str, message_id: str, user_id: str, username: str, emoji: str
    ) -> ReactionChange | None:
        return await self._shielded(
            self._react(room_id, message_id, user_id, username, emoji, op=ReactionOp.ADD)
        )

    async def remove_reaction(
        self, room_id: str, message_id: str, user_id: str, username: str, emoji: str
    ) -> ReactionChange | None:
        return await self._shielded(
            self._react(room_id, message_id, user_id, username, emoji, op=ReactionOp.REMOVE)
        )

    async def _react(
        self,
        room_id: str,
        message_id: str,
        user_id: str,
        username: str,
        emoji: str,
        *,
        op: ReactionOp,
    ) -> ReactionChange | None:
        message_seq = await self._message_seq(room_id, message_id)
        if message_seq is None:
            return None
        reactions = ReactionDoc.get_pymongo_collection()
        key = {"message_id": message_id, "emoji": emoji, "user_id": user_id}
        if op is ReactionOp.ADD:
            try:
                await ReactionDoc(room_id=room_id, **key).insert()
            except DuplicateKeyError:
                existing = await reactions.find_one(key)
                seq = int(existing["seq"]) if existing is not None else 0
                return ReactionChange(seq=seq or message_seq, changed=False)
        else:
            removed = await reactions.delete_one(key)
            if removed.deleted_count == 0:
                return ReactionChange(seq=message_seq, changed=False)
        seq = await self._next_seq(room_id)
        if op is ReactionOp.ADD:
            await reactions.update_one(key, {"$set": {"seq": seq}})
        payload = {"emoji": emoji, "user_id": user_id, "username": username, "op": op.value}
        await self._log(room_id, seq, EventKind.REACTION, message_id, ts=now_ms(), payload=payload)
        return ReactionChange(seq=seq, changed=True)

    async def reactions(
        self, message_ids: Sequence[str], viewer_id: str
    ) -> dict[str, list[ReactionCount]]:
        if not message_ids:
            return {}
        # Grouped here rather than by $group: a page has at most a few hundred
        # reaction documents, and this stays within what every server supports.
        groups: dict[str, dict[str, tuple[int, int, bool]]] = {}
        cursor = ReactionDoc.get_pymongo_collection().find(
            {"message_id": {"$in": list(message_ids)}}
        )
        async for raw in cursor:
            per_message = groups.setdefault(raw["message_id"], {})
            first, count, me = per_message.get(raw["emoji"], (raw["seq"], 0, False))
            per_message[raw["emoji"]] = (
                min(first, raw["seq"]),
                count + 1,
                me or raw["user_id"] == viewer_id,
            )
        return {
            message_id: [
                ReactionCount(emoji=emoji, count=count, me=me)
                for emoji, (_, count, me) in sorted(per.items(), key=lambda item: item[1][0])
            ]
            for message_id, per in groups.items()
        }

    # -- the event log ---------------------------------------------------------------------
    async def events_after(self, room_id: str, after_seq: int, limit: int) -> list[RoomEvent]:
        if limit <= 0:
            return []
        docs = (
            await EventDoc.find({"room_id": room_id, "seq": {"$gt": after_seq}})
            .sort([("seq", SortDirection.ASCENDING)])
            .limit(limit)
            .to_list()
        )
        ids = sorted({d.message_id for d in docs})
        messages: dict[str, Message] = {}
        if ids:
            async for raw in self._message_collection().find({"_id": {"$in": ids}}):
                messages[raw["_id"]] = self._message_record(raw)
        return [
            RoomEvent(
                room_id=d.room_id,
                seq=d.seq,
                kind=EventKind(d.kind),
                message_id=d.message_id,
                ts=d.ts,
                payload=dict(d.payload),
                message=messages.get(d.message_id),
            )
            for d in docs
        ]

    # -- threads ---------------------------------------------------------------------------
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
        query: Raw = {"room_id": room_id, "thread_id": thread_id}
        seq_range: Raw = {}
        if after_seq is not None:
            seq_range["$gt"] = after_seq
        if before_seq is not None:
            seq_range["$lt"] = before_seq
        if seq_range:
            query["seq"] = seq_range
        ascending = after_seq is not None
        order = SortDirection.ASCENDING if ascending else SortDirection.DESCENDING
        cursor = self._message_collection().find(query, sort=[("seq", order)], limit=limit)
        found = [self._message_record(raw) async for raw in cursor]
        return found if ascending else found[::-1]

    # -- read state ------------------------------------------------------------------------
    async def mark_read(self, user_id: str, room_id: str, seq: int) -> int:
        return await move_read_position(room_id, user_id, seq)

    async def read_positions(self, room_id: str) -> dict[str, int]:
        members = await self.member_ids(room_id)
        states = await ReadStateDoc.find({"room_id": room_id}).to_list()
        positions = {s.user_id: s.last_read for s in states}
        return {user_id: positions.get(user_id, 0) for user_id in members}

    async def unread(self, user_id: str, room_ids: Sequence[str]) -> dict[str, Unread]:
        if not room_ids:
            return {}
        states = await ReadStateDoc.find(
            {"user_id": user_id, "room_id": {"$in": list(room_ids)}}
        ).to_list()
        positions = {s.room_id: s.last_read for s in states}
        counts = await asyncio.gather(
            *(self._unread_in(user_id, r, positions.get(r, 0)) for r in room_ids)
        )
        return dict(zip(room_ids, counts, strict=True))

    async def _unread_in(self, user_id: str, room_id: str, last_read: int) -> Unread:
        # Both run on (room_id, seq)-leading indexes from the read position on.
        count = await self._message_collection().count_documents(
            {"room_id": room_id, "seq": {"$gt": last_read}, "user_id": {"$ne": user_id}}
        )
        cursor = MentionDoc.get_pymongo_collection().find(
            {
                "user_id": {"$in": [user_id, ROOM_MENTION]},
                "room_id": room_id,
                "seq": {"$gt": last_read},
                "author_id": {"$ne": user_id},
            },
            projection={"seq": True},
        )
        # A message naming the user and @room is one mention.
        mentioned = {raw["seq"] async for raw in cursor}
        return Unread(last_read=last_read, count=count, mentions=len(mentioned))

    # -- search and activity ---------------------------------------------------------------
    async def search_messages(self, query: SearchQuery) -> list[Message]:
        if query.limit <= 0 or not query.terms:
            return []
        # Membership is part of the query: a page holds only readable
        # messages, never a global page filtered afterwards.
        rooms = [room.id for room in await self.rooms_of(query.user_id)]
        if query.room_id is not None:
            rooms = [r for r in rooms if r == query.room_id]
        if not rooms:
            return []
        find: Raw = {"$text": {"$search": text_search(query.terms)}, "room_id": {"$in": rooms}}
        if query.author_id is not None:
            find["user_id"] = query.author_id
        before, after = query.before_ts, query.after_ts
        ties: list[Message] = []
        if query.cursor is not None:
            # Keyset paging on (ts, _id) without an $or (which nx-27017 cannot
            # combine with $text): the rest of the cursor's millisecond by ts
            # equality, then everything older by an integer range.
            ts, last_id = query.cursor
            if (before is None or ts < before) and (after is None or ts > after):
                same_ms = self._message_collection().find({**find, "ts": ts})
                ties = sorted(
                    (m for m in [self._message_record(r) async for r in same_ms] if m.id < last_id),
                    key=lambda m: m.id,
                    reverse=True,
                )[: query.limit]
            before = ts if before is None else min(before, ts)
        ts_range: Raw = {}
        if before is not None:
            ts_range["$lt"] = before
        if after is not None:
            ts_range["$gt"] = after
        if ts_range:
            find["ts"] = ts_range
        if len(ties) == query.limit:
            return ties
        cursor = self._message_collection().find(
            find,
            sort=[("ts", SortDirection.DESCENDING), ("_id", SortDirection.DESCENDING)],
            limit=query.limit - len(ties),
        )
        return ties + [self._message_record(raw) async for raw in cursor]

    async def last_activity(self, room_ids: Sequence[str]) -> dict[str, int]:
        if not room_ids:
            return {}
        cursor = self._seq_collection().find({"_id": {"$in": list(room_ids)}})
        return {raw["_id"]: int(raw["last_ts"]) async for raw in cursor if raw.get("last_ts")}
