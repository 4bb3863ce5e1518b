"""The Store port and the records it deals in.

Every adapter (SQLite embedded, MongoDB through Beanie) implements `Store` and is
checked by the same contract suite in tests/contract/test_store.py. Records are
frozen dataclasses so handlers cannot mutate what another coroutine also holds.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass

from chatd.models import (
    Mention,
    Message,
    NewMessage,
    ReactionChange,
    ReactionCount,
    RefreshToken,
    Room,
    RoomEvent,
    SearchQuery,
    Unread,
    User,
)


class StoreError(Exception):
    """A store operation failed for a reason the caller may report."""


class Conflict(StoreError):
    """A uniqueness rule was violated (e.g. a username or room id already taken)."""


def username_key(username: str) -> str:
    """The identity of a name: uniqueness, look-up and login throttling all key on it.

    casefold, not lower: it also maps e.g. "ß" to "ss" and U+017F (long s) to "s", so
    every spelling that finds an account also shares that account's throttle.
    """
    return username.casefold()


@dataclass(slots=True)
class KnownEpoch:
    """The store's epoch as this node read it when the store first answered (None
    until then: a node started while MongoDB was unreachable learns it later)."""

    value: str | None = None


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

    # Logged-out access tokens. Kept in the store, not the broker: a logout must
    # survive a restart of Redis (which may run without persistence), and
    # an access token lives only minutes, so the list stays small.
    @abc.abstractmethod
    async def revoke_access_token(self, jti: str, expires_at: int) -> None:
        """Refuse the access token `jti` until `expires_at` (epoch seconds, its `exp`).

        Idempotent. Also drops entries whose token has expired by now: an
        expired token is refused anyway, so they would only take up room.
        """

    @abc.abstractmethod
    async def is_access_token_revoked(self, jti: str) -> bool:
        """Whether `jti` was revoked and has not expired yet."""


class ConversationStore(abc.ABC):
    """Edits, deletes, reactions, threads, read state and search (part of every Store).

    Every seq'd event (message, edit, delete, reaction change) is committed
    together with its seq and recorded in the room's event log, so `events_after`
    can replay exactly what a client missed.
    """

    @abc.abstractmethod
    async def edit_message(
        self,
        room_id: str,
        message_id: str,
        text: str,
        *,
        mentions: tuple[Mention, ...] = (),
        mentions_room: bool = False,
    ) -> tuple[Message, int] | None:
        """Replace the text (id and seq stay), stamp `edited_at`, log an edit event.

        Returns (the message as edited, the edit event's seq); None if there is
        no such message in the room.
        """

    @abc.abstractmethod
    async def delete_message(self, room_id: str, message_id: str) -> tuple[Message, int] | None:
        """Remove the message with its reactions, mentions and search entry; log a delete.

        Returns (the message as it was, the delete event's seq) so the caller can
        remove its files; None if there is no such message in the room.
        """

    @abc.abstractmethod
    async def add_reaction(
        self, room_id: str, message_id: str, user_id: str, username: str, emoji: str
    ) -> ReactionChange | None:
        """Add the user's emoji to the message (once); None if there is no such message."""

    @abc.abstractmethod
    async def remove_reaction(
        self, room_id: str, message_id: str, user_id: str, username: str, emoji: str
    ) -> ReactionChange | None:
        """Take the user's emoji off the message; None if there is no such message."""

    @abc.abstractmethod
    async def reactions(
        self, message_ids: Sequence[str], viewer_id: str
    ) -> dict[str, list[ReactionCount]]:
        """Per message id (only those with reactions): each emoji, oldest first."""

    @abc.abstractmethod
    async def events_after(self, room_id: str, after_seq: int, limit: int) -> list[RoomEvent]:
        """Up to `limit` room events with seq > after_seq, in seq order."""

    @abc.abstractmethod
    async def thread_messages(
        self,
        room_id: str,
        thread_id: str,
        *,
        limit: int,
        before_seq: int | None = None,
        after_seq: int | None = None,
    ) -> list[Message]:
        """Replies in a thread, oldest first: the next `limit` after `after_seq` if
        given, else the latest `limit` below `before_seq` (or the latest)."""

    @abc.abstractmethod
    async def mark_read(self, user_id: str, room_id: str, seq: int) -> int:
        """Move the user's read position up to `seq` (never back); return the position."""

    @abc.abstractmethod
    async def read_positions(self, room_id: str) -> dict[str, int]:
        """Every member's read position in the room (read receipts)."""

    @abc.abstractmethod
    async def unread(self, user_id: str, room_ids: Sequence[str]) -> dict[str, Unread]:
        """Per room: the read position, messages by others after it, and mentions of
        the user (or `@room`) among them."""

    @abc.abstractmethod
    async def search_messages(self, query: SearchQuery) -> list[Message]:
        """Messages matching every term, newest first, from the searcher's rooms only."""

    @abc.abstractmethod
    async def last_activity(self, room_ids: Sequence[str]) -> dict[str, int]:
        """The ts of each room's latest message (rooms without messages are left out)."""


class Store(TokenStore, ConversationStore):
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

    # -- epoch -----------------------------------------------------------------
    # Room seqs only move forward within one epoch. Restoring a backup takes
    # them back to where the backup stood, so a restore replaces the epoch:
    # clients that remember another one drop their seqs and reload, instead of
    # dropping new messages whose seqs they saw before the restore.
    @abc.abstractmethod
    async def epoch(self) -> str:
        """The store's epoch: a random id, made with the store, kept until `new_epoch`."""

    @abc.abstractmethod
    async def new_epoch(self) -> str:
        """Replace the epoch with a new random one (after a restore) and return it."""

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
        """Make the user a member; True if they were not one before.

        A new member's read position starts at the room's last seq: what was
        said before they joined is not unread for them.
        """

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
        A reply (`thread_id`) also counts on its parent (`thread_count`, `thread_last_ts`).
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
