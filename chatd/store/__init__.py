"""The Store port: persistent users, rooms, memberships and room events."""

from chatd.store.base import (
    Conflict,
    ConversationStore,
    Store,
    StoreError,
    TokenStore,
    username_key,
)

__all__ = [
    "Conflict",
    "ConversationStore",
    "Store",
    "StoreError",
    "TokenStore",
    "username_key",
]
