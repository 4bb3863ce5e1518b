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

from chatd.actions import rooms as room_actions
from chatd.actions.deps import ActionDeps, Membership
from chatd.actions.dms import open_dm
from chatd.actions.edits import delete_message, edit_message
from chatd.actions.messages import post_message
from chatd.actions.reactions import MAX_EMOJI_PER_MESSAGE, change_reaction
from chatd.actions.reads import mark_read
from chatd.broker.memory import MemoryBroker
from chatd.domain.dms import MAX_DM_MEMBERS, dm_room_id
from chatd.domain.rooms import MAX_TOPIC
from chatd.errors import Forbidden, Invalid, LimitReached, NotFound, Refused
from chatd.fanout.hub import Hub
from chatd.files.local import LocalFileStore
from chatd.models import ReactionOp, Room, RoomKind, User
from chatd.store import Store
from chatd.store.factory import open_store
from chatd.util.clock import new_id, now_ms
from tests.client import unique_name
from tests.sockets import RecordingSocket

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


def took(socket: RecordingSocket) -> list[tuple[str, str]]:
    """(type, room) of each membership frame it was sent so far, then forgets its frames."""
    taken = [
        (f["type"], f["room"]["id"] if f["type"] == "joined" else f["room"])
        for f in socket.frames
        if f["type"] in ("joined", "left")
    ]
    socket.frames.clear()
    return taken


@pytest.fixture
async def online(deps: ActionDeps) -> AsyncIterator[Any]:
    """online(user) -> a RecordingSocket of that user attached to the hub (detached after the test)."""
    sockets: list[RecordingSocket] = []

    async def attach(owner: User) -> RecordingSocket:
        socket = RecordingSocket(owner)
        await deps.hub.attach(socket)  # type: ignore[arg-type]
        sockets.append(socket)
        return socket

    yield attach
    for socket in sockets:
        await deps.hub.detach(socket)  # type: ignore[arg-type]


async def test_creating_a_room_cleans_its_name_and_keeps_the_dm_namespace(
    deps: ActionDeps, online: Any
):
    store = deps.store
    alice = await user(store)
    socket = await online(alice)
    name = unique_name("Team\u200b ")

    room = await room_actions.create_room(deps, alice, name=name, private=False, topic="a\x00b")
    assert (room.name, room.topic, room.kind) == (
        name.replace("\u200b", "").strip(),
        "ab",
        RoomKind.PUBLIC,
    )
    assert await store.member_role(room.id, alice.id) == "owner"
    assert took(socket) == [("joined", room.id)] and room.id in socket.rooms
    private = await room_actions.create_room(deps, alice, name="Secret plans", private=True)
    assert private.kind is RoomKind.PRIVATE and private.id != "secret-plans"

    refused_names = [
        "\u200b\u202e",  # nothing visible left
        "DM-abc",  # the DM namespace
        "!!!",  # no public id
    ]
    for bad in refused_names:
        with pytest.raises(Invalid) as refused:
            await room_actions.create_room(deps, alice, name=bad, private=False)
        assert list(refused.value.extra["fields"]) == ["name"], bad
    with pytest.raises(Invalid) as refused:
        await room_actions.create_room(
            deps, alice, name="ok", private=True, topic="t" * (MAX_TOPIC + 1)
        )
    assert list(refused.value.extra["fields"]) == ["topic"]
    with pytest.raises(Refused) as taken:
        await room_actions.create_room(deps, alice, name=name.upper(), private=False)
    assert taken.value.code == "room_exists"
    assert took(socket) == [("joined", private.id)], "refusals announce nothing"


async def test_joining_creates_public_rooms_and_reveals_nothing_else(deps: ActionDeps, online: Any):
    store = deps.store
    alice, bob = await user(store), await user(store)
    bobs = await online(bob)
    fresh = unique_name("lobby-")

    created = await room_actions.join_room(deps, alice, fresh)
    assert (created.id, created.kind) == (fresh, RoomKind.PUBLIC)
    assert await store.member_role(fresh, alice.id) == "owner"
    joined = await room_actions.join_room(deps, bob, fresh)
    assert joined.id == fresh and await store.member_role(fresh, bob.id) == "member"
    again = await room_actions.join_room(deps, bob, fresh)
    assert again.id == fresh
    assert took(bobs) == [("joined", fresh)], "joining again announces nothing"

    secret = await private_room(store, alice)
    dm = await open_dm(deps, alice, [(await user(store)).username])
    missing = ["Not Normalized", dm_room_id([alice.id, bob.id]), secret, dm.id]
    for room_id in missing:
        with pytest.raises(NotFound):
            await room_actions.join_room(deps, bob, room_id)
        assert not await store.is_member(room_id, bob.id), room_id
    assert await store.get_room("Not Normalized") is None
    assert await store.get_room(dm_room_id([alice.id, bob.id])) is None, "a join never makes a DM"
    assert took(bobs) == []


async def test_leaving_refuses_dms_and_non_members(deps: ActionDeps, online: Any):
    store = deps.store
    alice, bob = await user(store), await user(store)
    alices = await online(alice)
    room = await private_room(store, alice, bob)
    dm = await open_dm(deps, alice, [bob.username])
    took(alices)

    with pytest.raises(Invalid):
        await room_actions.leave_room(deps, alice, dm.id, membership=UNCHECKED)
    with pytest.raises(Invalid):
        await room_actions.leave_room(deps, alice, dm.id, membership=Membership.VERIFIED)
    assert await store.is_member(dm.id, alice.id)
    outsider = await user(store)
    with pytest.raises(NotFound):
        await room_actions.leave_room(deps, outsider, room, membership=UNCHECKED)
    assert took(alices) == []

    await room_actions.leave_room(deps, alice, room, membership=UNCHECKED)
    assert not await store.is_member(room, alice.id)
    assert took(alices) == [("left", room)] and room not in alices.rooms
    with pytest.raises(NotFound):
        await room_actions.leave_room(deps, alice, room, membership=UNCHECKED)


async def test_any_member_invites_but_nobody_into_a_dm(deps: ActionDeps, online: Any):
    store = deps.store
    owner, member, guest, outsider = [await user(store) for _ in range(4)]
    guests = await online(guest)
    room = await private_room(store, owner, member)
    dm = await open_dm(deps, owner, [member.username])

    with pytest.raises(NotFound):
        await room_actions.invite(deps, outsider, room, guest.username, membership=UNCHECKED)
    with pytest.raises(Invalid):
        await room_actions.invite(deps, owner, dm.id, guest.username, membership=UNCHECKED)
    with pytest.raises(NotFound):
        await room_actions.invite(deps, member, room, unique_name("ghost"), membership=UNCHECKED)
    assert not await store.is_member(room, guest.id) and not await store.is_member(dm.id, guest.id)
    assert took(guests) == []

    invited = await room_actions.invite(
        deps, member, room, guest.username.upper(), membership=UNCHECKED
    )
    assert invited.id == guest.id and await store.member_role(room, guest.id) == "member"
    await room_actions.invite(deps, owner, room, guest.username, membership=UNCHECKED)
    assert took(guests) == [("joined", room)], "a second invite announces nothing"


async def test_a_dm_is_2_to_10_known_people_and_never_another_room(deps: ActionDeps, online: Any):
    store = deps.store
    alice, bob = await user(store), await user(store)
    alices, bobs = await online(alice), await online(bob)

    for names in ([unique_name("ghost")], [alice.username], []):
        with pytest.raises(Invalid) as refused:
            await open_dm(deps, alice, names)
        assert list(refused.value.extra["fields"]) == ["users"], names
    crowd = [(await user(store)).username for _ in range(MAX_DM_MEMBERS)]
    with pytest.raises(Invalid):
        await open_dm(deps, alice, crowd)
    assert took(alices) == []

    dm = await open_dm(deps, alice, [bob.username.upper(), alice.username])
    assert dm.id == dm_room_id([alice.id, bob.id]) and dm.kind is RoomKind.DM
    assert sorted(await store.member_ids(dm.id)) == sorted([alice.id, bob.id])
    assert await store.member_role(dm.id, alice.id) == "member", "a DM has no owner"
    assert (await open_dm(deps, bob, [alice.username])).id == dm.id
    assert took(alices) == [("joined", dm.id)] and took(bobs) == [("joined", dm.id)]

    carol = await user(store)
    squatted = Room(dm_room_id([alice.id, carol.id]), "squat", RoomKind.PUBLIC, carol.id, now_ms())
    await store.create_room(squatted)
    await store.add_member(squatted.id, (await user(store)).id)
    with pytest.raises(Refused) as conflict:
        await open_dm(deps, alice, [carol.username])
    assert conflict.value.code == "dm_conflict"
    assert not await store.is_member(squatted.id, alice.id)
