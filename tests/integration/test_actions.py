"""The use-case actions called directly, as an admin tool, bot or CLI would.

No aiohttp app and no socket: an `ActionDeps` over a real store (each adapter),
an in-process broker and a local file store. The actions must apply every rule
themselves, membership included when the caller says it has not checked it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from chatd.actions.deps import ActionDeps, Membership
from chatd.actions.edits import delete_message, edit_message
from chatd.actions.messages import post_message
from chatd.actions.reactions import MAX_EMOJI_PER_MESSAGE, change_reaction
from chatd.actions.reads import mark_read
from chatd.broker.memory import MemoryBroker
from chatd.clock import new_id, now_ms
from chatd.errors import Forbidden, Invalid, LimitReached, NotFound
from chatd.files.local import LocalFileStore
from chatd.hub import Hub
from chatd.store import ReactionOp, Room, RoomKind, Store, User
from chatd.store.factory import open_store
from tests.client import unique_name

UNCHECKED = Membership.UNVERIFIED


@pytest.fixture
async def deps(make_settings: Any, store_backend: str, tmp_path: Path) -> AsyncIterator[ActionDeps]:
    settings = make_settings(store=store_backend)
    broker = MemoryBroker()
    await broker.start()
    try:
        async with open_store(settings) as store:
            hub = Hub(
                store=store,
                broker=broker,
                node_id="actions-test",
                prefix=settings.redis_prefix,
                presence_ttl=settings.presence_ttl,
            )
            try:
                yield ActionDeps(store=store, hub=hub, files=LocalFileStore(tmp_path / "files"))
            finally:
                await hub.stop()
    finally:
        await broker.close()


async def user(store: Store) -> User:
    return await store.create_user(unique_name("u"), "not-a-real-hash")


async def private_room(store: Store, owner: User, *members: User) -> str:
    room = await store.create_room(
        Room(new_id(), unique_name("room-"), RoomKind.PRIVATE, owner.id, now_ms())
    )
    await store.add_member(room.id, owner.id, role="owner")
    for member in members:
        await store.add_member(room.id, member.id)
    return room.id


async def test_an_unchecked_caller_who_is_not_a_member_is_refused_everything(deps: ActionDeps):
    store = deps.store
    alice, outsider = await user(store), await user(store)
    room = await private_room(store, alice)
    posted = await post_message(deps, alice, room, membership=UNCHECKED, text="mine")

    attempts = [
        post_message(deps, outsider, room, membership=UNCHECKED, text="let me in"),
        edit_message(deps, outsider, room, posted.message.id, membership=UNCHECKED, text="x"),
        delete_message(deps, outsider, room, posted.message.id, membership=UNCHECKED),
        change_reaction(
            deps, outsider, room, posted.message.id, "👍", op=ReactionOp.ADD, membership=UNCHECKED
        ),
        mark_read(deps, outsider, room, 1, membership=UNCHECKED),
        post_message(deps, alice, "no-such-room", membership=UNCHECKED, text="?"),
    ]
    for attempt in attempts:
        with pytest.raises(NotFound):
            await attempt
    assert await store.last_seq(room) == posted.message.seq, "nothing was stored"


async def test_posting_applies_the_thread_mention_and_nonce_rules(deps: ActionDeps):
    store = deps.store
    alice, bob = await user(store), await user(store)
    room = await private_room(store, alice, bob)
    acks: list[tuple[str, int]] = []

    parent = await post_message(deps, alice, room, membership=UNCHECKED, text="lunch?")
    reply = await post_message(
        deps, bob, room, membership=UNCHECKED, text="yes", thread_id=parent.message.id
    )
    nested = await post_message(
        deps,
        alice,
        room,
        membership=UNCHECKED,
        text=f"@{bob.username} 12:30",
        nonce="n1",
        thread_id=reply.message.id,
        acknowledge=lambda message_id, seq: acks.append((message_id, seq)),
    )
    again = await post_message(
        deps,
        alice,
        room,
        membership=UNCHECKED,
        text="12:30",
        nonce="n1",
        thread_id=parent.message.id,
    )

    assert nested.message.thread_id == parent.message.id, "a reply to a reply stays in the thread"
    assert [m.user_id for m in nested.message.mentions] == [bob.id]
    assert acks == [(nested.message.id, nested.message.seq)]
    assert (again.created, again.message.id) == (False, nested.message.id)
    unread = (await store.unread(bob.id, [room]))[room]
    assert (unread.count, unread.mentions) == (2, 1)
    with pytest.raises(Invalid) as refused:
        await post_message(deps, bob, room, membership=UNCHECKED, text="x", thread_id="nope")
    assert "threadId" in refused.value.extra["fields"]


async def test_only_authors_edit_and_only_authors_or_moderators_delete(deps: ActionDeps):
    store = deps.store
    owner, alice, bob = await user(store), await user(store), await user(store)
    room = await private_room(store, owner, alice, bob)
    first = await post_message(deps, alice, room, membership=UNCHECKED, text="helo")
    second = await post_message(deps, alice, room, membership=UNCHECKED, text="again")

    with pytest.raises(Forbidden):
        await edit_message(deps, bob, room, first.message.id, membership=UNCHECKED, text="hi")
    edited, _ = await edit_message(
        deps, alice, room, first.message.id, membership=UNCHECKED, text="hello"
    )
    assert edited.text == "hello"
    with pytest.raises(Forbidden):
        await delete_message(deps, bob, room, first.message.id, membership=UNCHECKED)
    await delete_message(deps, owner, room, first.message.id, membership=UNCHECKED)
    await delete_message(deps, alice, room, second.message.id, membership=UNCHECKED)
    assert await store.get_message(room, first.message.id) is None
    with pytest.raises(NotFound):
        await delete_message(deps, alice, room, second.message.id, membership=UNCHECKED)


async def test_a_message_takes_at_most_50_different_emoji(deps: ActionDeps):
    store = deps.store
    alice = await user(store)
    room = await private_room(store, alice)
    posted = await post_message(deps, alice, room, membership=UNCHECKED, text="vote")
    emoji = [f":e{i}:" for i in range(MAX_EMOJI_PER_MESSAGE + 1)]

    for name in emoji[:-1]:
        await change_reaction(
            deps, alice, room, posted.message.id, name, op=ReactionOp.ADD, membership=UNCHECKED
        )
    again = await change_reaction(
        deps, alice, room, posted.message.id, emoji[0], op=ReactionOp.ADD, membership=UNCHECKED
    )
    assert again.changed is False
    with pytest.raises(LimitReached):
        await change_reaction(
            deps, alice, room, posted.message.id, emoji[-1], op=ReactionOp.ADD, membership=UNCHECKED
        )
