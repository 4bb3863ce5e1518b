"""Room and input hardening of issue #18 over real sockets, on each store.

D1, the DM namespace: a DM's id is derived from its members' ids, which anyone
sees in a member list, so these tests play the attacker who knows the id
before the DM exists. D14: numbers beyond what a store keeps. D15: names
that hide characters.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web

from chatd.app import create_app
from chatd.domain.dms import dm_room_id
from chatd.keys import STORE
from chatd.models import Room, RoomKind
from chatd.settings import Settings
from chatd.store import Store
from chatd.store.factory import open_store
from chatd.util.clock import now_ms
from chatd.wire.numbers import MAX_STORED_INT
from tests.client import ChatClient
from tests.fixtures.app import builtin_handlers

MakeClient = Callable[..., Awaitable[ChatClient]]


@pytest.fixture
def settings(make_settings: Any, store_backend: str) -> Settings:
    made: Settings = make_settings(store=store_backend)
    return made


@pytest.fixture
async def node(aiohttp_server: Any, settings: Settings) -> tuple[str, web.Application]:
    """One embedded node on the store under test, and its app (to reach its store)."""
    app = create_app(settings, handlers=builtin_handlers())
    server = await aiohttp_server(app)
    return str(server.make_url("/")), app


@pytest.fixture
async def clients(node: tuple[str, web.Application]) -> AsyncIterator[MakeClient]:
    made: list[ChatClient] = []

    async def make() -> ChatClient:
        client = ChatClient(node[0])
        made.append(client)
        await client.register()
        await client.connect()
        return client

    yield make
    for client in made:
        await client.close()


def store_of(node: tuple[str, web.Application]) -> Store:
    return node[1][STORE]


async def ids_seen_by(outsider: ChatClient, *usernames: str) -> list[str]:
    """What the attacker needs: the victims' ids, from any shared room's member list."""
    status, body, _ = await outsider.call("GET", "/api/rooms/general/members")
    assert status == 200, body
    by_name = {m["username"]: m["id"] for m in body["members"]}
    return [by_name[name] for name in usernames]


async def open_dm(opener: ChatClient, *others: ChatClient) -> tuple[int, Any]:
    names = [o.user["username"] for o in others if o.user]
    status, body, _ = await opener.call("POST", "/api/dms", json_body={"users": names})
    return status, body


async def assert_private_dm_of(
    store: Store, body: dict[str, Any], dm_id: str, *members: ChatClient
) -> None:
    """The answer and the stored room are the DM, with exactly these members."""
    expected = {m.user["id"] for m in members if m.user}
    assert body["room"]["id"] == dm_id
    assert body["room"]["kind"] == "dm" and body["room"]["private"]
    assert {m["id"] for m in body["room"]["members"]} == expected
    room = await store.get_room(dm_id)
    assert room is not None and room.kind is RoomKind.DM
    assert set(await store.member_ids(dm_id)) == expected


@pytest.mark.parametrize("spelling", ["{id}", "{upper}", "DM_{hash}", " dm {hash} "])
async def test_a_public_room_cannot_take_a_dm_id_over_rest(
    clients: MakeClient, node: tuple[str, web.Application], spelling: str
) -> None:
    alice, bob, mallory = await clients(), await clients(), await clients()
    dm_id = dm_room_id(await ids_seen_by(mallory, alice.user["username"], bob.user["username"]))
    name = spelling.format(id=dm_id, upper=dm_id.upper(), hash=dm_id.removeprefix("dm-"))

    status, body, _ = await mallory.call("POST", "/api/rooms", json_body={"name": name})

    assert status == 422, body
    assert body["error"]["code"] == "invalid"
    assert "reserved for direct messages" in body["error"]["fields"]["name"][0]
    assert await store_of(node).get_room(dm_id) is None
    status, body = await open_dm(alice, bob)
    assert status == 201, body
    await assert_private_dm_of(store_of(node), body, dm_id, alice, bob)
    status, _, _ = await mallory.call("GET", f"/api/rooms/{dm_id}/messages")
    assert status == 404


async def test_a_join_cannot_create_a_dm_id(
    clients: MakeClient, node: tuple[str, web.Application]
) -> None:
    alice, bob, mallory = await clients(), await clients(), await clients()
    dm_id = dm_room_id(await ids_seen_by(mallory, alice.user["username"], bob.user["username"]))

    refused = await mallory.request({"type": "join", "room": dm_id})

    assert refused["type"] == "error" and refused["code"] == "not_found"
    assert await store_of(node).get_room(dm_id) is None
    status, body = await open_dm(alice, bob)
    assert status == 201, body
    await assert_private_dm_of(store_of(node), body, dm_id, alice, bob)
    again = await mallory.request({"type": "join", "room": dm_id})
    assert again["code"] == "not_found"
    assert not await store_of(node).is_member(dm_id, mallory.user["id"])


async def squat(store: Store, dm_id: str, owner_id: str, kind: RoomKind) -> None:
    """A room under a DM's id as an older chatd let anyone make it."""
    await store.create_room(Room(dm_id, dm_id, kind, owner_id, now_ms()))
    await store.add_member(dm_id, owner_id, role="owner")


@pytest.mark.parametrize("kind", [RoomKind.PUBLIC, RoomKind.PRIVATE, RoomKind.DM])
async def test_opening_a_dm_refuses_a_room_that_is_not_that_dm(
    clients: MakeClient,
    node: tuple[str, web.Application],
    kind: RoomKind,
    caplog: pytest.LogCaptureFixture,
) -> None:
    alice, bob, mallory = await clients(), await clients(), await clients()
    dm_id = dm_room_id([alice.user["id"], bob.user["id"]])
    store = store_of(node)
    await squat(store, dm_id, mallory.user["id"], kind)

    with caplog.at_level(logging.WARNING, logger="chatd.domain.dms"):
        status, body = await open_dm(alice, bob)

    assert status == 409, body
    assert body["error"]["code"] == "dm_conflict"
    assert any(dm_id in r.getMessage() for r in caplog.records if r.name == "chatd.domain.dms")
    # Nothing of the other room was handed over, and nobody else can come in.
    assert await store.member_ids(dm_id) == [mallory.user["id"]]
    refused = await bob.request({"type": "join", "room": dm_id})
    assert refused["code"] == "not_found"
    assert await store.member_ids(dm_id) == [mallory.user["id"]]


async def test_a_dm_cut_short_before_its_members_were_added_is_completed(
    clients: MakeClient, node: tuple[str, web.Application]
) -> None:
    alice, bob = await clients(), await clients()
    dm_id = dm_room_id([alice.user["id"], bob.user["id"]])
    store = store_of(node)
    await store.create_room(Room(dm_id, "half", RoomKind.DM, alice.user["id"], now_ms()))
    await store.add_member(dm_id, alice.user["id"])

    status, body = await open_dm(bob, alice)

    assert status == 201, body
    await assert_private_dm_of(store, body, dm_id, alice, bob)


async def test_start_up_names_public_rooms_squatting_dm_ids(
    aiohttp_server: Any, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    squatted = dm_room_id(["someone", "someone-else"])
    async with open_store(settings) as store:
        await store.create_room(Room(squatted, squatted, RoomKind.PUBLIC, "mallory", now_ms()))

    with caplog.at_level(logging.WARNING, logger="chatd.wiring.resources"):
        await aiohttp_server(create_app(settings, handlers=builtin_handlers()))

    [warning] = [r.getMessage() for r in caplog.records if r.name == "chatd.wiring.resources"]
    assert squatted in warning and "direct-message id" in warning


# -- D14: numbers a store cannot keep ------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/rooms/general/messages?before=9223372036854775808", "before"),
        ("/api/rooms/general/messages?after=10000000000000000000000000", "after"),
        ("/api/rooms/general/messages?after=1e25", "after"),
        ("/api/rooms/general/messages?after=-1", "after"),
        ("/api/rooms/general/threads/{id}/messages?before=9223372036854775808", "before"),
        ("/api/rooms/general/threads/{id}/messages?after=9223372036854775808", "after"),
        ("/api/search?q=hello&before=1000000000000000000000000000000", "before"),
        ("/api/search?q=hello&after=9223372036854775808", "after"),
        ("/api/search?q=hello&before=1e30", "before"),
    ],
)
async def test_query_numbers_past_the_stores_range_are_422_per_field(
    clients: MakeClient, path: str, field: str
) -> None:
    alice = await clients()
    sent = await alice.request({"type": "message", "room": "general", "text": "hello"})

    status, body, _ = await alice.call("GET", path.format(id=sent["id"]))

    assert status == 422, body
    assert body["error"]["code"] == "invalid" and list(body["error"]["fields"]) == [field]


@pytest.mark.parametrize(
    "path",
    [
        "/api/rooms/general/messages?before={max}",
        "/api/rooms/general/messages?after=0&before={max}",
        "/api/rooms/general/threads/{id}/messages?before={max}",
        "/api/search?q=hello&before={max}&after=0",
    ],
)
async def test_the_largest_stored_number_is_still_accepted(clients: MakeClient, path: str) -> None:
    alice = await clients()
    sent = await alice.request({"type": "message", "room": "general", "text": "hello"})
    await alice.request(
        {"type": "message", "room": "general", "text": "hello again", "threadId": sent["id"]}
    )

    status, body, _ = await alice.call("GET", path.format(max=MAX_STORED_INT, id=sent["id"]))

    assert status == 200, body
    assert body["messages"]


async def test_frame_seqs_past_the_stores_range_are_invalid_per_field(
    clients: MakeClient,
) -> None:
    alice = await clients()
    await alice.request({"type": "message", "room": "general", "text": "hello"})

    for frame, field in [
        ({"type": "resume", "rooms": {"general": MAX_STORED_INT + 1}}, "rooms"),
        ({"type": "resume", "rooms": {"general": 2**64 + 1}}, "rooms"),
        ({"type": "read", "room": "general", "seq": MAX_STORED_INT + 1}, "seq"),
        ({"type": "read", "room": "general", "seq": -1}, "seq"),
    ]:
        refused = await alice.request(frame)
        assert refused["type"] == "error", (frame, refused)
        assert refused["code"] == "invalid" and list(refused["fields"]) == [field]

    resumed = await alice.request({"type": "resume", "rooms": {"general": MAX_STORED_INT}})
    assert resumed["type"] == "resumed" and resumed["rooms"]["general"] == MAX_STORED_INT
    read = await alice.request({"type": "read", "room": "general", "seq": MAX_STORED_INT})
    assert read["type"] == "read" and read["seq"] >= 1


# -- D15: room names and topics that hide characters ---------------------------------------


@pytest.mark.parametrize("private", [False, True])
async def test_room_names_and_topics_lose_control_and_invisible_characters(
    clients: MakeClient, node: tuple[str, web.Application], private: bool
) -> None:
    alice, bob = await clients(), await clients()
    tag = bob.user["id"][-6:]
    name = f"pay\u202eroll\u200b {tag}\x00\r\nq3"
    topic = "\u2066salaries\u2069\tand\u00ad bonuses\x1b"

    status, body, _ = await alice.call(
        "POST", "/api/rooms", json_body={"name": name, "private": private, "topic": topic}
    )

    assert status == 201, body
    room = body["room"]
    assert (room["name"], room["topic"]) == (f"payroll {tag} q3", "salaries and bonuses")
    if not private:
        assert room["id"] == f"payroll-{tag}-q3"
    stored = await store_of(node).get_room(room["id"])
    assert stored is not None and (stored.name, stored.topic) == (room["name"], room["topic"])
    status, listing, _ = await alice.call("GET", "/api/rooms")
    assert [r["name"] for r in listing["rooms"] if r["id"] == room["id"]] == [room["name"]]


@pytest.mark.parametrize("private", [False, True])
async def test_a_room_name_of_only_invisible_characters_is_422(
    clients: MakeClient, private: bool
) -> None:
    alice = await clients()
    status, body, _ = await alice.call(
        "POST", "/api/rooms", json_body={"name": "\u202e\u200b\x00\r\n", "private": private}
    )
    assert status == 422, body
    assert body["error"]["code"] == "invalid"
    assert "visible characters" in body["error"]["fields"]["name"][0]


async def test_an_invisible_character_does_not_make_a_second_general(
    clients: MakeClient,
) -> None:
    alice = await clients()
    status, body, _ = await alice.call("POST", "/api/rooms", json_body={"name": "gen\u200beral"})
    assert status == 409, body
