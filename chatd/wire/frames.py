"""Builders for every frame the server sends, so no handler writes ad-hoc dicts.

Each builder's output is checked against its marshmallow schema in
chatd/protocol.py by the tests (see tests/frames.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from chatd.errors import StorageFull, Unavailable
from chatd.files.kinds import has_preview, icon_kind
from chatd.models import (
    Attachment,
    EventKind,
    Message,
    ReactionCount,
    ReactionOp,
    RoomEvent,
    Unread,
    User,
)

Frame = dict[str, Any]


def user_ref(user_id: str, username: str) -> dict[str, str]:
    return {"id": user_id, "username": username}


def ready(user: User, session: str, rooms: list[dict[str, Any]], epoch: str) -> Frame:
    return {
        "type": "ready",
        "user": user_ref(user.id, user.username),
        "session": session,
        "rooms": rooms,
        "epoch": epoch,
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


def unavailable(exc: Unavailable, ref: str | None = None) -> Frame:
    """A backend outage: which backend and when to retry (the cause is for the log)."""
    return error(
        "unavailable",
        f"the server's {exc.backend} is unavailable; retry in {exc.retry_after} s",
        ref,
        retry_after=exc.retry_after,
    )


def storage_full(exc: StorageFull, ref: str | None = None) -> Frame:
    return error("storage_full", f"the server's {exc.backend} is full; nothing was stored", ref)


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


def message(msg: Message, *, reactions: list[ReactionCount] | None = None) -> Frame:
    """A stored message as the contract's `message` frame (also the history item).

    `reactions` (as one viewer sees them) are given for history, where each
    message carries them; live, reactions arrive as their own events.
    """
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
    if msg.thread_count:
        frame["threadCount"] = msg.thread_count
        frame["threadLastTs"] = msg.thread_last_ts
    frame.update(_mentions(msg))
    if reactions is not None:
        frame["reactions"] = [{"emoji": r.emoji, "count": r.count, "me": r.me} for r in reactions]
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


def _mentions(msg: Message) -> Frame:
    fields: Frame = {}
    if msg.mentions:
        fields["mentions"] = [user_ref(m.user_id, m.username) for m in msg.mentions]
    if msg.mentions_room:
        fields["mentionsRoom"] = True
    return fields


def message_update(msg: Message, seq: int) -> Frame:
    """An edit: the message's new text, under the edit event's own seq."""
    frame: Frame = {
        "type": "message-update",
        "room": msg.room_id,
        "id": msg.id,
        "seq": seq,
        "text": msg.text,
        "editedAt": msg.edited_at,
    }
    frame.update(_mentions(msg))
    return frame


def message_delete(room_id: str, message_id: str, seq: int) -> Frame:
    return {"type": "message-delete", "room": room_id, "id": message_id, "seq": seq}


def reaction(
    room_id: str,
    message_id: str,
    seq: int,
    *,
    emoji: str,
    user_id: str,
    username: str,
    op: ReactionOp,
) -> Frame:
    return {
        "type": "reaction",
        "room": room_id,
        "id": message_id,
        "seq": seq,
        "emoji": emoji,
        "user": user_ref(user_id, username),
        "op": op.value,
    }


def event(ev: RoomEvent) -> Frame | None:
    """The frame a logged room event replays as (resume, gap fill).

    Message and edit frames are rebuilt from the message as it is now, so an
    event of a message deleted since replays as nothing (its delete follows).
    """
    if ev.kind is EventKind.DELETE:
        return message_delete(ev.room_id, ev.message_id, ev.seq)
    if ev.message is None:
        return None
    if ev.kind is EventKind.MESSAGE:
        return message(ev.message)
    if ev.kind is EventKind.EDIT:
        return message_update(ev.message, ev.seq)
    return reaction(
        ev.room_id,
        ev.message_id,
        ev.seq,
        emoji=ev.payload["emoji"],
        user_id=ev.payload["user_id"],
        username=ev.payload["username"],
        op=ReactionOp(ev.payload["op"]),
    )


def read(room_id: str, user_id: str, username: str, seq: int) -> Frame:
    """A member's read position (their own other tabs; the other members of a DM)."""
    return {"type": "read", "room": room_id, "user": user_ref(user_id, username), "seq": seq}


def unread(room_id: str, state: Unread) -> Frame:
    return {
        "type": "unread",
        "room": room_id,
        "count": state.count,
        "mentions": state.mentions,
        "lastRead": state.last_read,
    }


def mention(msg: Message) -> Frame:
    """A private notice to a member the message @-mentions, on every socket they have."""
    frame: Frame = {
        "type": "mention",
        "room": msg.room_id,
        "id": msg.id,
        "seq": msg.seq,
        "user": user_ref(msg.user_id, msg.username),
        "text": msg.text,
        "ts": msg.ts,
    }
    if msg.thread_id is not None:
        frame["threadId"] = msg.thread_id
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
        "voice": bool(room.voice),
    }


# -- calls ------------------------------------------------------------------------
def call_participant(
    session: str, user_id: str, username: str, *, muted: bool, camera: bool, screen: bool
) -> dict[str, Any]:
    return {
        "session": session,
        "user": user_ref(user_id, username),
        "muted": muted,
        "camera": camera,
        "screen": screen,
    }


def call(
    room_id: str,
    rev: int,
    participants: list[dict[str, Any]],
    *,
    audio_only: bool,
    max_participants: int,
) -> Frame:
    """Who is in the room's call now; `rev` orders snapshots (keep the highest)."""
    return {
        "type": "call",
        "room": room_id,
        "rev": rev,
        "audioOnly": audio_only,
        "maxParticipants": max_participants,
        "participants": participants,
    }


def webrtc(
    kind: str, room_id: str, payload: Frame, *, from_session: str, user_id: str, username: str
) -> Frame:
    """A relayed signal (`webrtc-offer`, `-answer`, `-ice`) as the addressed peer gets it."""
    return {
        "type": f"webrtc-{kind}",
        "room": room_id,
        "from": from_session,
        "fromUser": user_ref(user_id, username),
        **payload,
    }


def call_ring(room_id: str, user_id: str, username: str, session: str) -> Frame:
    return {
        "type": "call-ring",
        "room": room_id,
        "from": user_ref(user_id, username),
        "session": session,
    }


def call_ring_end(
    room_id: str, reason: str, caller: dict[str, str], by: dict[str, str] | None = None
) -> Frame:
    """The ring is over: `answered`, `declined` (by `by`), or `missed` (nobody answered)."""
    frame: Frame = {"type": "call-ring-end", "room": room_id, "reason": reason, "from": caller}
    if by is not None:
        frame["user"] = by
    return frame
