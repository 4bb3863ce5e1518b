"""Builders for every frame the server sends, so no handler writes ad-hoc dicts.

Each builder's output is checked against its marshmallow schema in
chatd/protocol.py by the tests (see tests/frames.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from chatd.files.kinds import has_preview, icon_kind
from chatd.store import Attachment, Message, User

Frame = dict[str, Any]


def user_ref(user_id: str, username: str) -> dict[str, str]:
    return {"id": user_id, "username": username}


def ready(user: User, session: str, rooms: list[dict[str, Any]]) -> Frame:
    return {
        "type": "ready",
        "user": user_ref(user.id, user.username),
        "session": session,
        "rooms": rooms,
    }


def ack(ref: str | None, message_id: str, seq: int) -> Frame:
    frame: Frame = {"type": "ack", "id": message_id, "seq": seq}
    if ref is not None:
        frame["ref"] = ref
    return frame


def error(
    code: str,
    message: str,
    ref: str | None = None,
    *,
    fields: Mapping[str, Any] | None = None,
    retry_after: float | None = None,
) -> Frame:
    frame: Frame = {"type": "error", "code": code, "message": message}
    if ref is not None:
        frame["ref"] = ref
    if fields:
        frame["fields"] = dict(fields)
    if retry_after is not None:
        frame["retryAfter"] = round(retry_after, 3)
    return frame


def attachment_json(attachment: Attachment, url: str) -> dict[str, Any]:
    """One file of a message: an image with its size and thumbnail, or an icon kind."""
    data: dict[str, Any] = {
        "url": url,
        "name": attachment.name,
        "size": attachment.size,
        "type": attachment.content_type,
    }
    if has_preview(attachment):
        data["width"] = attachment.width
        data["height"] = attachment.height
        if attachment.thumbnail_key is not None:
            data["thumbUrl"] = f"{url}/thumb"
    else:
        data["icon"] = icon_kind(attachment.content_type, attachment.name)
    return data


def file_url(message: Message, index: int) -> str:
    return f"/files/{message.room_id}/{message.id}/{index}"


def message(msg: Message) -> Frame:
    """A stored message as the contract's `message` frame (also the history item)."""
    frame: Frame = {
        "type": "message",
        "room": msg.room_id,
        "id": msg.id,
        "seq": msg.seq,
        "user": user_ref(msg.user_id, msg.username),
        "text": msg.text,
        "ts": msg.ts,
        "messageType": msg.message_type,
    }
    if msg.nonce is not None:
        frame["nonce"] = msg.nonce
    if msg.thread_id is not None:
        frame["threadId"] = msg.thread_id
    if msg.edited_at is not None:
        frame["editedAt"] = msg.edited_at
    if msg.attachments:
        files = [attachment_json(a, file_url(msg, i)) for i, a in enumerate(msg.attachments)]
        first = files[0]
        frame.update(
            fileUrl=first["url"],
            fileName=first["name"],
            fileSize=first["size"],
            fileType=first["type"],
            files=files,
        )
    return frame


def presence(room_id: str, users: Iterable[tuple[str, str]]) -> Frame:
    return {
        "type": "presence",
        "room": room_id,
        "users": [user_ref(uid, name) for uid, name in users],
    }


def typing(room_id: str, user_id: str, username: str) -> Frame:
    return {"type": "typing", "room": room_id, "user": user_ref(user_id, username)}


def joined(room: dict[str, Any]) -> Frame:
    return {"type": "joined", "room": room}


def left(room_id: str) -> Frame:
    return {"type": "left", "room": room_id}


def resumed(rooms: Mapping[str, int]) -> Frame:
    return {"type": "resumed", "rooms": dict(rooms)}


def pong(ref: str | None) -> Frame:
    frame: Frame = {"type": "pong"}
    if ref is not None:
        frame["ref"] = ref
    return frame


def reauthed(expires_in: int, ref: str | None) -> Frame:
    frame: Frame = {"type": "reauthed", "expiresIn": expires_in}
    if ref is not None:
        frame["ref"] = ref
    return frame


def room_json(room: Any) -> dict[str, Any]:
    """A room as REST and frames show it."""
    return {
        "id": room.id,
        "name": room.name,
        "kind": str(room.kind),
        "private": str(room.kind) != "public",
        "topic": room.topic,
        "createdBy": room.created_by,
        "createdAt": room.created_at,
    }
