"""The Store port: persistent users, rooms, memberships and room events."""

from chatd.store.base import (
    Conflict,
    ConversationStore,
    KnownEpoch,
    Store,
    StoreError,
    TokenStore,
    username_key,
)

__all__ = [
    "Conflict",
    "ConversationStore",
    "KnownEpoch",
    "Store",
    "StoreError",
    "TokenStore",
    "username_key",
]
