"""The Store port: persistent users, rooms, memberships and room events."""

from chatd.store.base import (
    Attachment,
    Conflict,
    Message,
    NewMessage,
    RefreshToken,
    Room,
    RoomKind,
    Store,
    StoreError,
    TokenStore,
    User,
)

__all__ = [
    "Attachment",
    "Conflict",
    "Message",
    "NewMessage",
    "RefreshToken",
    "Room",
    "RoomKind",
    "Store",
    "StoreError",
    "TokenStore",
    "User",
]
