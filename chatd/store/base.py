"""The Store port and the records it deals in.

Every adapter (SQLite embedded, MongoDB through Beanie) implements `Store` and is
checked by the same contract suite in tests/contract/test_store.py. Records are
frozen dataclasses so handlers cannot mutate what another coroutine also holds.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from enum import StrEnum


class StoreError(Exception):
    """A store operation failed for a reason the caller may report."""


class Conflict(StoreError):
    """A uniqueness rule was violated (e.g. a username or room id already taken)."""


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


class TokenStore(abc.ABC):
    """Refresh-token persistence (part of every Store; split out to keep the port readable)."""

    @abc.abstractmethod
    async def add_refresh_token(self, token: RefreshToken) -> None: ...

    @abc.abstractmethod
    async def get_refresh_token(self, token_hash: str) -> RefreshToken | None: ...

    @abc.abstractmethod
    async def use_refresh_token(self, token_hash: str, now: int) -> RefreshToken | None:
        """Atomically mark an unused, unrevoked token used; return it, or None if it was not.

        Two nodes racing on one token: exactly one gets it back; the other sees reuse.
        """

    @abc.abstractmethod
    async def revoke_refresh_family(self, family_id: str) -> None: ...

    @abc.abstractmethod
    async def revoke_user_refresh_tokens(self, user_id: str) -> None: ...


class Store(TokenStore):
    """Persistence for chatd. All methods are coroutine-safe on one event loop.

    Several chatd processes may share one store (SQLite file or MongoDB); the
    per-room `seq` must stay gapless and unique across all of them.
    """

    # -- lifecycle -------------------------------------------------------------
    @abc.abstractmethod
    async def check(self) -> None:
        """Raise if the backend does not answer; used by /readyz."""

    # -- users -----------------------------------------------------------------
    @abc.abstractmethod
    async def create_user(self, username: str, password_hash: str) -> User:
        """Create a user; raise Conflict if the name is taken in any letter case."""

    @abc.abstractmethod
    async def get_user(self, user_id: str) -> User | None: ...

    @abc.abstractmethod
    async def get_user_by_name(self, username: str) -> User | None:
        """Look a user up by name, ignoring letter case."""

    @abc.abstractmethod
    async def set_password_hash(self, user_id: str, password_hash: str) -> int:
        """Replace the hash and bump the user's token version (atomically); return it."""

    # -- rooms and membership --------------------------------------------------
    @abc.abstractmethod
    async def create_room(self, room: Room) -> Room:
        """Insert a room; raise Conflict if its id exists."""

    @abc.abstractmethod
    async def ensure_room(self, room: Room) -> Room:
        """Return the room with `room.id`, creating it from `room` if absent (race-safe)."""

    @abc.abstractmethod
    async def get_room(self, room_id: str) -> Room | None: ...

    @abc.abstractmethod
    async def list_public_rooms(self) -> list[Room]: ...

    @abc.abstractmethod
    async def add_member(self, room_id: str, user_id: str, role: str = "member") -> bool:
        """Make the user a member; True if they were not one before."""

    @abc.abstractmethod
    async def remove_member(self, room_id: str, user_id: str) -> bool:
        """True if the user was a member."""

    @abc.abstractmethod
    async def is_member(self, room_id: str, user_id: str) -> bool: ...

    @abc.abstractmethod
    async def member_role(self, room_id: str, user_id: str) -> str | None:
        """The member's role ("owner", "moderator", "member") or None if not a member."""

    @abc.abstractmethod
    async def member_ids(self, room_id: str) -> list[str]: ...

    @abc.abstractmethod
    async def rooms_of(self, user_id: str) -> list[Room]:
        """Every room the user is a member of."""

    # -- messages --------------------------------------------------------------
    @abc.abstractmethod
    async def append_message(self, new: NewMessage) -> tuple[Message, bool]:
        """Store a message under the room's next seq.

        Returns (message, created). A retry with the same (user_id, nonce) returns
        the message stored the first time and created=False, allocating no seq.
        """

    @abc.abstractmethod
    async def get_message(self, room_id: str, message_id: str) -> Message | None: ...

    @abc.abstractmethod
    async def messages_before(
        self, room_id: str, before_seq: int | None, limit: int
    ) -> list[Message]:
        """Up to `limit` messages with seq < before_seq (latest if None), oldest first."""

    @abc.abstractmethod
    async def messages_after(self, room_id: str, after_seq: int, limit: int) -> list[Message]:
        """Up to `limit` messages with seq > after_seq, oldest first."""

    @abc.abstractmethod
    async def last_seq(self, room_id: str) -> int:
        """The highest seq allocated in the room (0 for none)."""
