"""The real-time core over real sockets on one node: rooms, messages, presence, typing, resume."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

from chatd.app import create_app
from chatd.keys import BROKER, HUB
from tests.client import ChatClient, unique_name
from tests.fixtures.app import builtin_handlers


@pytest.fixture
async def server(start_server, store_backend):
    return await start_server(store=store_backend)


@pytest.fixture
async def clients(server):
    made: list[ChatClient] = []

    async def make(connect: bool = True) -> ChatClient:
        client = ChatClient(server)
        made.append(client)
        await client.register()
        if connect:
            await client.connect()
        return client

    yield make
    for client in made:
        await client.close()


def room_name() -> str:
    return unique_name("room-")


async def test_join_creates_a_public_room_and_messages_reach_every_member(clients):
    alice, bob = await clients(), await clients()
    room = room_name()
    joined = await alice.request({"type": "join", "room": room})
    assert joined["type"] == "joined" and joined["room"]["id"] == room
    await bob.request({"type": "join", "room": room})

    ack = await alice.request({"type": "message", "room": room, "text": "hello bob"})
    assert ack["type"] == "ack" and ack["seq"] == 1
    for client in (alice, bob):
        message = await client.expect("message", room=room)
        assert message["id"] == ack["id"] and message["seq"] == 1
        assert message["text"] == "hello bob"
        assert message["user"] == alice.user
        assert message["messageType"] == "text"
    second = await bob.request({"type": "message", "room": room, "text": "hi"})
    assert second["seq"] == 2


async def test_every_user_is_in_general_from_the_start(clients):
    alice = await clients()
    ready_rooms = [r["id"] for r in (await alice.connect())["rooms"]]
    assert "general" in ready_rooms


async def test_a_retry_with_the_same_nonce_is_stored_and_delivered_once(clients):
    alice, bob = await clients(), await clients()
    room = room_name()
    for c in (alice, bob):
        await c.request({"type": "join", "room": room})
    frame = {"type": "message", "room": room, "text": "once", "nonce": "n-1"}
    first = await alice.request(frame)
    again = await alice.request(frame)
    assert (again["id"], again["seq"]) == (first["id"], first["seq"])
    await bob.expect("message", room=room, id=first["id"])
    later = await alice.request({"type": "message", "room": room, "text": "next"})
    assert later["seq"] == first["seq"] + 1, "the retry must not consume a seq"
    delivered = [f for f in await bob.drain() if f["type"] == "message"]
    assert [f["text"] for f in delivered] == ["next"]


@pytest.mark.parametrize(
    ("frame", "code", "field"),
    [
        ({"type": "message", "room": "general", "text": ""}, "invalid", "text"),
        ({"type": "message", "room": "general", "text": "   \n "}, "invalid", "text"),
        ({"type": "message", "room": "general", "text": "x" * 4001}, "invalid", "text"),
        ({"type": "message", "room": "general", "text": 42}, "invalid", "text"),
        ({"type": "message", "text": "no room"}, "invalid", "room"),
        ({"type": "message", "room": "general", "text": "hi", "bogus": 1}, "invalid", "bogus"),
        ({"type": "message", "room": "../etc", "text": "hi"}, "invalid", "room"),
        ({"type": "join", "room": ["general"]}, "invalid", "room"),
        ({"type": "resume", "rooms": {"general": "ten"}}, "invalid", "rooms"),
        ({"type": "flyaway"}, "unknown_type", None),
    ],
)
async def test_bad_frames_get_their_documented_error_and_the_socket_stays_open(
    clients, frame, code, field
):
    alice = await clients()
    reply = await alice.request(frame)
    assert reply["type"] == "error" and reply["code"] == code
    if field:
        assert field in reply["fields"]
    assert (await alice.request({"type": "ping"}))["type"] == "pong"


async def test_non_json_non_objects_and_binary_frames_are_answered(clients):
    alice = await clients()
    await alice.ws.send_str("this is not json")
    assert (await alice.expect("error"))["code"] == "invalid"
    await alice.ws.send_str("[1, 2, 3]")
    assert (await alice.expect("error"))["code"] == "invalid"
    await alice.ws.send_str('{"no": "type"}')
    assert (await alice.expect("error"))["fields"] == {"type": ["Missing."]}
    await alice.ws.send_bytes(b"\x00\x01")
    assert (await alice.expect("error"))["code"] == "invalid"
    assert (await alice.request({"type": "ping"}))["type"] == "pong"


async def test_messages_to_a_room_you_are_not_in_are_refused(clients):
    alice, bob = await clients(), await clients()
    room = room_name()
    await alice.request({"type": "join", "room": room})
    reply = await bob.request({"type": "message", "room": room, "text": "sneaky"})
    assert reply["type"] == "error" and reply["code"] == "forbidden"
    reply = await bob.request({"type": "typing", "room": room})
    assert reply["code"] == "forbidden"


async def test_an_oversize_frame_closes_only_that_socket_with_1009(clients):
    alice, bob = await clients(), await clients()
    await alice.ws.send_str(
        json.dumps({"type": "message", "room": "general", "text": "x" * 1_000_000})
    )
    code, _ = await alice.closed(timeout=5)
    assert code == 1009
    assert (await bob.request({"type": "ping"}))["type"] == "pong"


async def test_a_burst_of_1000_frames_is_answered_frame_by_frame(clients):
    alice = await clients()
    for i in range(1000):
        await alice.send({"type": "message", "room": "general", "text": f"m{i}", "ref": f"b{i}"})
    answers = {}
    while len(answers) < 1000:
        frame = await alice.recv()
        if "ref" in frame:
            answers[frame["ref"]] = frame
    acked = [f for f in answers.values() if f["type"] == "ack"]
    limited = [f for f in answers.values() if f["type"] == "error"]
    assert acked and limited and len(acked) + len(limited) == 1000
    assert {f["code"] for f in limited} == {"rate_limited"}
    assert all(f["retryAfter"] > 0 for f in limited)
    assert (await alice.request({"type": "ping"}))["type"] == "pong"


async def test_history_pages_latest_then_before_and_after(clients):
    alice = await clients()
    room = room_name()
    await alice.request({"type": "join", "room": room})
    client_settings_rate = 5  # the default per-user rate; pace to stay under it
    for i in range(12):
        ack = await alice.request({"type": "message", "room": room, "text": f"m{i}"})
        if ack["type"] == "error":
            await asyncio.sleep(ack["retryAfter"])
            ack = await alice.request({"type": "message", "room": room, "text": f"m{i}"})
        assert ack["type"] == "ack", ack
        await asyncio.sleep(1 / client_settings_rate)
    status, body, _ = await alice.call("GET", f"/api/rooms/{room}/messages")
    assert status == 200
    assert [m["seq"] for m in body["messages"]] == list(range(1, 13))
    status, body, _ = await alice.call("GET", f"/api/rooms/{room}/messages?limit=5")
    assert [m["seq"] for m in body["messages"]] == list(range(8, 13))
    status, body, _ = await alice.call("GET", f"/api/rooms/{room}/messages?limit=5&before=8")
    assert [m["seq"] for m in body["messages"]] == list(range(3, 8))
    status, body, _ = await alice.call("GET", f"/api/rooms/{room}/messages?after=10")
    assert [m["seq"] for m in body["messages"]] == [11, 12]
    status, body, _ = await alice.call("GET", f"/api/rooms/{room}/messages?limit=0")
    assert status == 422 and "limit" in body["error"]["fields"]


async def test_history_is_for_members_only(clients):
    alice, bob = await clients(), await clients()
    room = room_name()
    await alice.request({"type": "join", "room": room})
    status, body, _ = await bob.call("GET", f"/api/rooms/{room}/messages")
    assert status == 404 and body["error"]["code"] == "not_found"


async def test_presence_follows_joins_leaves_tabs_and_disconnects(server, clients):
    alice, bob = await clients(), await clients()
    room = room_name()
    await alice.request({"type": "join", "room": room})
    await bob.request({"type": "join", "room": room})

    await expect_online(alice, room, alice, bob)
    second_tab = ChatClient(server)
    second_tab.token = bob.token
    await second_tab.connect()
    await bob.close()  # one of bob's two tabs goes away: he is still online
    frame = await alice.expect("presence", room=room)
    assert online_names(frame) == sorted([alice.user["username"], bob.user["username"]])
    await second_tab.close()
    await expect_online(alice, room, alice)
    left = await alice.request({"type": "leave", "room": room})
    assert left["type"] == "left"


def online_names(frame: dict) -> list[str]:
    return sorted(u["username"] for u in frame["users"])


async def expect_online(observer: ChatClient, room: str, *online: ChatClient) -> None:
    """Wait until a presence frame for `room` lists exactly these users."""
    wanted = sorted(c.user["username"] for c in online)
    while True:
        frame = await observer.expect("presence", room=room)
        if online_names(frame) == wanted:
            return


async def test_typing_reaches_the_others_but_not_the_typist(clients):
    alice, bob = await clients(), await clients()
    room = room_name()
    for c in (alice, bob):
        await c.request({"type": "join", "room": room})
    await alice.send({"type": "typing", "room": room})
    frame = await bob.expect("typing", room=room)
    assert frame["user"] == alice.user
    assert not [f for f in await alice.drain() if f["type"] == "typing"]


async def test_resume_replays_missed_messages_in_order_exactly_once(server, clients):
    alice, bob = await clients(), await clients()
    room = room_name()
    for c in (alice, bob):
        await c.request({"type": "join", "room": room})
    first = await alice.request({"type": "message", "room": room, "text": "before"})
    await bob.expect("message", id=first["id"])
    await bob.ws.close()
    missed = []
    for i in range(5):
        ack = await alice.request({"type": "message", "room": room, "text": f"missed {i}"})
        missed.append(ack["seq"])
        await asyncio.sleep(0.2)
    await bob.connect()
    await bob.send({"type": "resume", "rooms": {room: first["seq"]}, "ref": "res"})
    resumed = await bob.expect("resumed", ref="res")
    assert resumed["rooms"] == {room: missed[-1]}
    replayed = [f for f in bob.backlog if f["type"] == "message" and f["room"] == room]
    assert [f["seq"] for f in replayed] == missed


async def test_a_resume_frame_never_resends_what_the_socket_had_live(clients):
    """Events live between `ready` and `resume` go out once: the replay stops below them."""
    alice, bob = await clients(), await clients()
    room = room_name()
    for c in (alice, bob):
        await c.request({"type": "join", "room": room})
    first = await alice.request({"type": "message", "room": room, "text": "seen"})
    await bob.expect("message", id=first["id"])
    await bob.ws.close()
    missed = [
        (await alice.request({"type": "message", "room": room, "text": f"missed {i}"}))["seq"]
        for i in range(3)
    ]
    await bob.connect()
    live = [
        (await alice.request({"type": "message", "room": room, "text": f"live {i}"}))["seq"]
        for i in range(2)
    ]
    for seq in live:
        await bob.expect("message", room=room, seq=seq)
    await bob.send({"type": "resume", "rooms": {room: first["seq"]}, "ref": "res"})
    resumed = await bob.expect("resumed", ref="res")
    after = await alice.request({"type": "message", "room": room, "text": "after"})
    await bob.expect("message", room=room, seq=after["seq"])
    later = [f["seq"] for f in bob.backlog + await bob.drain() if f["type"] == "message"]
    assert later == missed, "the replay sent only the missed events, and the rest once"
    assert resumed["rooms"] == {room: missed[-1]}
    # A second resume from the same point has nothing left to send.
    await bob.send({"type": "resume", "rooms": {room: first["seq"]}, "ref": "again"})
    await bob.expect("resumed", ref="again")
    assert not [f for f in bob.backlog + await bob.drain() if f["type"] == "message"]


async def test_hello_resume_replays_before_anything_live(clients):
    alice, bob = await clients(), await clients()
    room, elsewhere = room_name(), room_name()
    await alice.request({"type": "join", "room": elsewhere})
    for c in (alice, bob):
        await c.request({"type": "join", "room": room})
    first = await alice.request({"type": "message", "room": room, "text": "seen"})
    await bob.expect("message", id=first["id"])
    await bob.ws.close()
    missed = [
        (await alice.request({"type": "message", "room": room, "text": f"missed {i}"}))["seq"]
        for i in range(3)
    ]
    # A room bob is not in is left out: `ready` says which rooms he has.
    await bob.connect(resume={room: first["seq"], elsewhere: 0})
    resumed = await bob.expect("resumed")
    assert resumed["rooms"] == {room: missed[-1]}
    replayed = [f["seq"] for f in bob.backlog if f["type"] == "message"]
    assert replayed == missed
    bob.backlog.clear()
    after = await alice.request({"type": "message", "room": room, "text": "after"})
    await bob.expect("message", room=room, seq=after["seq"])
    assert not [f for f in bob.backlog + await bob.drain() if f["type"] == "message"]


async def test_ready_carries_the_store_epoch_and_a_resume_of_another_is_dropped(clients):
    alice, bob = await clients(), await clients()
    room = room_name()
    for c in (alice, bob):
        await c.request({"type": "join", "room": room})
    first = await alice.request({"type": "message", "room": room, "text": "before"})
    await bob.expect("message", id=first["id"])
    await bob.ws.close()

    # Seqs remembered from another epoch (before a restore, the store's seqs
    # went back): held to them, bob would never see seqs up to 1000.
    ready = await bob.connect(resume={room: first["seq"] + 1000}, epoch="an-older-epoch")
    assert isinstance(ready["epoch"], str) and ready["epoch"] != "an-older-epoch"
    assert (await bob.expect("resumed"))["rooms"] == {}
    after = await alice.request({"type": "message", "room": room, "text": "after"})
    await bob.expect("message", room=room, seq=after["seq"])

    # The same epoch: the resume is honoured as before.
    await bob.ws.close()
    await bob.connect(resume={room: first["seq"]}, epoch=ready["epoch"])
    resumed = await bob.expect("resumed")
    assert resumed["rooms"] == {room: after["seq"]}


async def test_hello_with_an_epoch_that_is_not_a_string_is_refused(clients):
    bob = await clients(connect=False)
    bob.ws = await bob.session.ws_connect(bob.base_url + "/ws")
    await bob.send({"type": "hello", "token": bob.token, "resume": {}, "epoch": 7})
    code, frames_seen = await bob.closed()
    assert code == aiohttp.WSCloseCode.POLICY_VIOLATION
    assert frames_seen[0]["code"] == "invalid" and "epoch" in frames_seen[0]["fields"]


@pytest.mark.parametrize(
    "resume", [{"room": -1}, {"bad room!": 1}, [1], {"room": "1"}, {f"r{i}": 0 for i in range(501)}]
)
async def test_hello_with_a_malformed_resume_is_refused(clients, resume):
    bob = await clients(connect=False)
    bob.ws = await bob.session.ws_connect(bob.base_url + "/ws")
    await bob.send({"type": "hello", "token": bob.token, "resume": resume})
    code, frames_seen = await bob.closed()
    assert code == aiohttp.WSCloseCode.POLICY_VIOLATION
    assert frames_seen[0]["code"] == "invalid" and "resume" in frames_seen[0]["fields"]


async def test_resumes_in_hello_count_against_the_resume_limit(clients):
    bob = await clients()
    room = room_name()
    await bob.request({"type": "join", "room": room})
    await bob.ws.close()
    for _ in range(5):  # the burst
        await bob.connect(resume={room: 0})
        await bob.expect("resumed")
        await bob.ws.close()
    bob.ws = await bob.session.ws_connect(bob.base_url + "/ws")
    await bob.send({"type": "hello", "token": bob.token, "resume": {room: 0}})
    code, frames_seen = await bob.closed()
    assert code == aiohttp.WSCloseCode.TRY_AGAIN_LATER
    assert frames_seen[0]["code"] == "rate_limited" and frames_seen[0]["retryAfter"] > 0
    # Without rooms to replay (a first connect), or without resume, hello is not limited.
    await bob.connect(resume={})
    assert (await bob.expect("resumed"))["rooms"] == {}
    await bob.connect()


async def test_hello_on_an_open_socket_takes_no_resume(clients):
    bob = await clients()
    reply = await bob.request({"type": "hello", "token": bob.token, "resume": {}})
    assert reply["type"] == "error" and reply["code"] == "invalid" and "resume" in reply["fields"]


async def test_resume_for_a_room_you_are_not_in_is_refused(clients):
    alice, bob = await clients(), await clients()
    room = room_name()
    await alice.request({"type": "join", "room": room})
    await bob.send({"type": "resume", "rooms": {room: 0}, "ref": "x"})
    error = await bob.expect("error", ref="x")
    assert error["code"] == "forbidden" and room in error["fields"]["rooms"]


async def test_private_rooms_are_for_members_and_invites_arrive_live(clients):
    alice, bob = await clients(), await clients()
    status, body, _ = await alice.call(
        "POST", "/api/rooms", json_body={"name": "Secret plans", "private": True}
    )
    assert status == 201 and body["room"]["private"]
    room = body["room"]["id"]
    reply = await bob.request({"type": "join", "room": room})
    assert reply["type"] == "error" and reply["code"] == "not_found"
    status, rooms, _ = await bob.call("GET", "/api/rooms")
    assert room not in [r["id"] for r in rooms["rooms"]]

    status, _, _ = await alice.call(
        "POST", f"/api/rooms/{room}/members", json_body={"username": bob.user["username"]}
    )
    assert status == 204
    joined = await bob.expect("joined")
    assert joined["room"]["id"] == room
    ack = await bob.request({"type": "message", "room": room, "text": "thanks"})
    assert ack["type"] == "ack"
    status, members, _ = await alice.call("GET", f"/api/rooms/{room}/members")
    assert {m["username"] for m in members["members"]} == {
        alice.user["username"],
        bob.user["username"],
    }


async def test_public_room_names_normalize_and_conflict(clients):
    alice = await clients()
    name = "Book Club " + unique_name()
    status, body, _ = await alice.call("POST", "/api/rooms", json_body={"name": name})
    assert status == 201
    assert body["room"]["id"] == name.lower().replace(" ", "-")
    status, body, _ = await alice.call("POST", "/api/rooms", json_body={"name": name.upper()})
    assert status == 409
    status, body, _ = await alice.call("POST", "/api/rooms", json_body={"name": "!!!"})
    assert status == 422 and "name" in body["error"]["fields"]


async def test_a_slow_consumer_is_closed_without_delaying_others(start_server):
    base = await start_server(CHATD_MESSAGE_RATE="10000")
    sender, slow, fast = ChatClient(base), ChatClient(base), ChatClient(base)
    total, text = 3000, "y" * 3900
    try:
        for c in (sender, slow, fast):
            await c.register()
            await c.connect()

        async def send_all() -> None:
            for i in range(total):
                await sender.send({"type": "message", "room": "general", "text": text})

        async def count(client: ChatClient, frame_type: str) -> int:
            seen = 0
            while seen < total:
                frame = await client.recv(timeout=20)
                if frame["type"] == frame_type and (
                    frame_type == "ack" or frame["user"]["id"] == sender.user["id"]
                ):
                    seen += 1
            return seen

        # The sender and fast read everything; slow reads nothing at all.
        _, acked, delivered = await asyncio.gather(
            send_all(), count(sender, "ack"), count(fast, "message")
        )
        assert acked == delivered == total
        msg = await slow.ws.receive(timeout=20)
        while msg.type == aiohttp.WSMsgType.TEXT:
            msg = await slow.ws.receive(timeout=20)
        assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == 4008
    finally:
        for c in (sender, slow, fast):
            await c.close()


async def test_a_protocol_ping_is_answered_with_a_pong(clients):
    # The server answers pings in its reader loop (no aiohttp autoping), before
    # and after hello.
    client = await clients(connect=False)
    client.ws = await client.session.ws_connect(client.base_url + "/ws", autoping=False)
    await client.ws.ping(b"before")
    msg = await client.ws.receive(timeout=5)
    assert msg.type == aiohttp.WSMsgType.PONG and msg.data == b"before"
    await client.send({"type": "hello", "token": client.token})
    await client.expect("ready")
    await client.ws.ping(b"after")
    msg = await client.ws.receive(timeout=5)
    while msg.type == aiohttp.WSMsgType.TEXT:  # presence and other frames of `general`
        msg = await client.ws.receive(timeout=5)
    assert msg.type == aiohttp.WSMsgType.PONG and msg.data == b"after"


async def test_a_socket_whose_connection_drops_is_detached_to_the_end(
    aiohttp_server, make_settings
):
    # aiohttp's test server, like a server with handler_cancellation on, cancels
    # the handler as soon as the client's connection is lost: here while the
    # socket is still being taken out of its rooms.
    app = create_app(make_settings(), handlers=builtin_handlers())
    server = await aiohttp_server(app)
    hub = app[HUB]
    left: list[str] = []
    hook_done = asyncio.Event()

    async def slow_left_hook(conn, room_id):
        await asyncio.sleep(0.3)
        left.append(room_id)
        hook_done.set()

    hub.add_room_hooks(left=slow_left_hook)
    alice = ChatClient(str(server.make_url("/")))
    await alice.register()
    await alice.connect()
    assert len(hub.connections) == 1
    await alice.close()

    async with asyncio.timeout(5):
        await hook_done.wait()
    await asyncio.sleep(0)  # the rest of the detach after the hook
    assert left == ["general"]
    assert hub.connections == []
    assert await app[BROKER].presence_list("general") == []
