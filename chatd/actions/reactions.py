"""Reacting to a message with an emoji (and taking it back), idempotent, live.

A change is a room event with its own seq (replayed by `resume`); repeating
one changes nothing, takes no seq and is acknowledged with the existing state.
"""

from __future__ import annotations

from chatd.actions.deps import Acknowledge, ActionDeps, Membership, ensure_member
from chatd.errors import LimitReached, NotFound
from chatd.models import ReactionChange, ReactionOp, User
from chatd.wire import frames

#: Distinct emoji on one message; beyond this a message is a sticker wall.
MAX_EMOJI_PER_MESSAGE = 50


async def change_reaction(
    deps: ActionDeps,
    user: User,
    room_id: str,
    message_id: str,
    emoji: str,
    *,
    op: ReactionOp,
    membership: Membership,
    acknowledge: Acknowledge | None = None,
) -> ReactionChange:
    """React (`op` ADD: at most 50 different emoji per message) or unreact (REMOVE)."""
    await ensure_member(deps, user.id, room_id, membership)
    store = deps.store
    if op is ReactionOp.ADD:
        present = (await store.reactions([message_id], user.id)).get(message_id, [])
        if len(present) >= MAX_EMOJI_PER_MESSAGE and emoji not in {r.emoji for r in present}:
            raise LimitReached(f"a message takes at most {MAX_EMOJI_PER_MESSAGE} different emoji")
        change = await store.add_reaction(room_id, message_id, user.id, user.username, emoji)
    else:
        change = await store.remove_reaction(room_id, message_id, user.id, user.username, emoji)
    if change is None:
        raise NotFound("no such message in this room")
    if acknowledge is not None:
        acknowledge(message_id, change.seq)
    if change.changed:
        reaction = frames.reaction(
            room_id,
            message_id,
            change.seq,
            emoji=emoji,
            user_id=user.id,
            username=user.username,
            op=op,
        )
        await deps.hub.publish_event(room_id, change.seq, reaction)
    return change
