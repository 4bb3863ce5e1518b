"""The records every layer deals in: users, rooms, messages, events, tokens.

Frozen dataclasses, so no coroutine can change what another one also holds.
They live below every other module (the Store port, the hub, the handlers all
import them from here), so getting a `User` never means importing "the store".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any, Final


class RoomKind(StrEnum):
    PUBLIC = "public"
    PRIVATE = "private"
    DM = "dm"


@dataclass(frozen=True, slots=True)
class User:
    id: str
    username: str
    password_hash: str
    created_at: int
    #: Bumped by every password change; access tokens carry it (claim `ver`) and
    #: one with an older version is refused, so the change logs out every session.
    token_version: int = 0


@dataclass(frozen=True, slots=True)
class Room:
    id: str
    name: str
    kind: RoomKind
    created_by: str | None
    created_at: int
    topic: str = ""
    #: A voice channel: its call is audio-only (set at creation, never changed).
    voice: bool = False


@dataclass(frozen=True, slots=True)
class Attachment:
    """A stored file that a message carries."""

    key: str
    name: str
    size: int
    content_type: str
    width: int | None = None
    height: int | None = None
    thumbnail_key: str | None = None


@dataclass(frozen=True, slots=True)
class Mention:
    """A member named with `@username` in a message's text."""

    user_id: str
    username: str


@dataclass(frozen=True, slots=True)
class NewMessage:
    """What a handler asks the store to append; the store assigns id, seq and ts."""

    room_id: str
    user_id: str
    username: str
    text: str
    message_type: str = "text"
    nonce: str | None = None
    thread_id: str | None = None
    attachments: tuple[Attachment, ...] = ()
    mentions: tuple[Mention, ...] = ()
    #: The text says `@room`: a mention of every member.
    mentions_room: bool = False

    def stored(self, *, message_id: str, seq: int, ts: int) -> Message:
        """The message this becomes once a store has given it its id, seq and time."""
        return Message(
            id=message_id,
            room_id=self.room_id,
            seq=seq,
            user_id=self.user_id,
            username=self.username,
            text=self.text,
            ts=ts,
            message_type=self.message_type,
            nonce=self.nonce,
            thread_id=self.thread_id,
            attachments=self.attachments,
            mentions=self.mentions,
            mentions_room=self.mentions_room,
        )


@dataclass(frozen=True, slots=True)
class Message:
    id: str
    room_id: str
    seq: int
    user_id: str
    username: str
    text: str
    ts: int
    message_type: str = "text"
    nonce: str | None = None
    thread_id: str | None = None
    attachments: tuple[Attachment, ...] = field(default=())
    edited_at: int | None = None
    #: Replies in the thread this message starts, and the newest reply's ts.
    thread_count: int = 0
    thread_last_ts: int | None = None
    mentions: tuple[Mention, ...] = ()
    mentions_room: bool = False


def message_from_fields(stored: Mapping[str, Any]) -> Message:
    """A Message from a store's document or row, read as a mapping of its fields.

    Both stores keep a message's fields under these names, with its attachments
    and mentions as plain mappings (BSON, JSON); other keys (a document's
    revision, a row's extra columns) are ignored.
    """
    values = {name: stored[name] for name in _MESSAGE_FIELDS if name in stored}
    values["attachments"] = tuple(Attachment(**a) for a in values.get("attachments", ()))
    values["mentions"] = tuple(Mention(**m) for m in values.get("mentions", ()))
    values["mentions_room"] = bool(values.get("mentions_room", False))
    return Message(**values)


_MESSAGE_FIELDS: Final = frozenset(f.name for f in fields(Message))


class EventKind(StrEnum):
    """The kinds of seq'd room events; each takes exactly one seq."""

    MESSAGE = "message"
    EDIT = "edit"
    DELETE = "delete"
    REACTION = "reaction"


class ReactionOp(StrEnum):
    ADD = "add"
    REMOVE = "remove"


@dataclass(frozen=True, slots=True)
class RoomEvent:
    """One stored room event, as `events_after` returns it for replay.

    `payload` holds only what the message itself cannot tell: for a reaction
    its `emoji`, `user_id`, `username` and `op`. Never message content, so a
    delete leaves no copy of the text behind. `message` is the message as it
    is now (None once deleted), from which message and edit frames are rebuilt.
    """

    room_id: str
    seq: int
    kind: EventKind
    message_id: str
    ts: int
    payload: Mapping[str, str] = field(default_factory=dict)
    message: Message | None = None


@dataclass(frozen=True, slots=True)
class ReactionChange:
    """The outcome of a react/unreact: `changed` False means it was already so.

    `seq` is the event's seq when changed; for a no-op it is the seq of the
    event that made the current state (the add), or the message's own seq.
    """

    seq: int
    changed: bool


@dataclass(frozen=True, slots=True)
class ReactionCount:
    """One emoji on one message as a viewer sees it."""

    emoji: str
    count: int
    me: bool


@dataclass(frozen=True, slots=True)
class Unread:
    """A member's read position in a room and what is unread after it."""

    last_read: int
    count: int
    mentions: int


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """A full-text search, only ever over the rooms `user_id` is a member of.

    Every term must occur as a whole word (any letter case, accents ignored).
    Results come newest first; `cursor` is the (ts, id) of the last result of
    the previous page. `before_ts`/`after_ts` bound `ts` exclusively.
    """

    user_id: str
    terms: tuple[str, ...]
    limit: int
    room_id: str | None = None
    author_id: str | None = None
    before_ts: int | None = None
    after_ts: int | None = None
    cursor: tuple[int, str] | None = None


@dataclass(frozen=True, slots=True)
class RefreshToken:
    """One refresh token of a rotation family; only its SHA-256 is ever stored."""

    token_hash: str
    family_id: str
    user_id: str
    created_at: int
    expires_at: int
    used_at: int | None = None
    revoked: bool = False


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: str
    jti: str
    issued_at: int
    expires_at: int
    #: The user's token version when issued; a password change bumps it.
    version: int = 0
