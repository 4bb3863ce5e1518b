"""Posting a message - text, or files with a caption - stored once, then delivered.

Whoever posts (a `message` frame, an upload, a bot), the same rules apply: a
reply to a reply stays in the parent's thread, mentions of members are resolved
and notified, and a retry with the same (user, nonce) stores nothing new.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from chatd.actions.deps import Acknowledge, ActionDeps, Membership, ensure_member
from chatd.domain.mentions import resolve_mentions
from chatd.domain.readstate import notify_mentions
from chatd.errors import Invalid
from chatd.models import Attachment, Message, NewMessage, User
from chatd.store import Store
from chatd.wire import frames

#: Long enough for a code snippet, short enough to read (Discord allows 2,000).
MAX_MESSAGE_CHARS = 4000
#: A client's retry key: a UUID or a counter fits many times over.
MAX_NONCE_CHARS = 64


@dataclass(frozen=True, slots=True)
class Posted:
    message: Message
    #: False for a retry of a stored (user, nonce): `message` is the first copy,
    #: and nothing was published or notified again.
    created: bool


async def post_message(
    deps: ActionDeps,
    sender: User,
    room_id: str,
    *,
    membership: Membership,
    text: str,
    nonce: str | None = None,
    thread_id: str | None = None,
    attachments: Sequence[Attachment] = (),
    acknowledge: Acknowledge | None = None,
) -> Posted:
    """Store the message, then publish it to the room and notify who it mentions.

    With `attachments` (objects already in the file store) it is a file message
    and `text` its caption, which may be empty. The attachments stay the
    caller's to delete when no new message holds them: a refusal, a failure
    before `acknowledge`, or a retry (`created` False).
    """
    await ensure_member(deps, sender.id, room_id, membership)
    store = deps.store
    thread_id = await _thread_root(store, room_id, thread_id)
    mentions, mentions_room = await resolve_mentions(store, room_id, text)
    message, created = await store.append_message(
        NewMessage(
            room_id=room_id,
            user_id=sender.id,
            username=sender.username,
            text=text,
            message_type="file" if attachments else "text",
            nonce=nonce,
            thread_id=thread_id,
            attachments=tuple(attachments),
            mentions=mentions,
            mentions_room=mentions_room,
        )
    )
    if acknowledge is not None:
        acknowledge(message.id, message.seq)
    if created:
        await deps.hub.publish_event(message.room_id, message.seq, frames.message(message))
        await notify_mentions(store, deps.hub, message)
    return Posted(message, created)


async def _thread_root(store: Store, room_id: str, thread_id: str | None) -> str | None:
    """The thread a reply to `thread_id` belongs to; Invalid if it names no message."""
    if thread_id is None:
        return None
    parent = await store.get_message(room_id, thread_id)
    if parent is None:
        raise Invalid(
            "threadId names no message in this room",
            fields={"threadId": ["Names no message in this room."]},
        )
    # A reply to a reply stays in the thread (threads are one level deep).
    return parent.thread_id or thread_id
