"""The Store port: persistent users, rooms, memberships and room events."""

from chatd.store.base import (
    Attachment,
    Conflict,
    Message,
    NewMessage,
    Room,
    RoomKind,
    Store,
    StoreError,
    User,
)

__all__ = [
    "Attachment",
    "Conflict",
    "Message",
    "NewMessage",
    "Room",
    "RoomKind",
    "Store",
    "StoreError",
    "User",
]
