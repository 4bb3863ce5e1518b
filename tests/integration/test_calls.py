"""Calls over real sockets: membership snapshots, signal relay, refusals, ringing, ICE.

One node on the embedded backends, and two nodes sharing a real redis-server.
Every frame received is checked against chatd.protocol by the test client.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import time

import pytest

from chatd.api.ice import turn_credentials
from chatd.broker.redis import RedisBroker
from chatd.domain.calls import Participant, roster_key
from chatd.handlers.calls import MAX_SDP_CHARS
from chatd.util.clock import now_ms
from tests.client import ChatClient, unique_name
from tests.fixtures.turn import turn_allocate

SDP = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
CANDIDATE = {
    "candidate": "candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host",
    "sdpMid": "0",
    "sdpMLineIndex": 0,
}


@pytest.fixture
async def people():
    made: list[ChatClient] = []

    async def person(url: str, *, room: str | None = None, user: ChatClient | None = None):
        """A connected client (a new user, or another socket of `user`), in `room`."""
        client = ChatClient(url)
        made.append(client)
        if user is None:
            await client.register()
        else:
            client.token, client.user = user.token, user.user
        ready = await client.connect()
        client.sid = ready["session"]
        if room is not None:
            await client.request({"type": "join", "room": room})
        await client.drain(0.05)
        return client

    yield person
    for client in made:
        await client.close()


def sessions(frame: dict) -> list[str]:
    return [p["session"] for p in frame["participants"]]


async def call_with(client: ChatClient, room: str, *expected: ChatClient) -> dict:
    """The first `call` snapshot of `room` whose participants are exactly `expected`."""
    while True:
        frame = await client.expect("call", room=room)
        if sessions(frame) == [c.sid for c in expected]:
            return frame


async def join_call(client: ChatClient, room: str, **media) -> dict:
    reply = await client.request({"type": "call-join", "room": room, **media})
    assert reply["type"] == "call", reply
    return reply


async def assert_silent(*clients: ChatClient, types: tuple[str, ...]) -> None:
    for client in clients:
        seen = [f for f in await client.drain(0.3) if f["type"] in types]
        assert seen == [], f"{client.user['username']} got {seen}"


# -- one node --------------------------------------------------------------------
@pytest.fixture
async def node(start_server):
    return await start_server()


async def test_join_state_and_leave_are_snapshots_to_the_whole_room(node, people):
    room = unique_name("room-")
    alice, bob = await people(node, room=room), await people(node, room=room)
    watcher = await people(node, room=room)

    joined = await join_call(alice, room, audio=True, video=True)
    assert joined["participants"] == [
        {"session": alice.sid, "user": alice.user, "muted": False, "camera": True, "screen": False}
    ]
    assert joined["maxParticipants"] == 6 and joined["audioOnly"] is False
    for other in (bob, watcher):
        assert (await other.expect("call", room=room))["participants"] == joined["participants"]

    both = await join_call(bob, room, audio=False)
    assert sessions(both) == [alice.sid, bob.sid] and both["rev"] > joined["rev"]
    assert both["participants"][1]["muted"] is True
    assert both["participants"][1]["camera"] is False
    assert sessions(await watcher.expect("call", room=room)) == sessions(both)

    state = await alice.request({"type": "call-state", "room": room, "muted": True, "screen": True})
    assert state["participants"][0] == {
        "session": alice.sid,
        "user": alice.user,
        "muted": True,
        "camera": True,
        "screen": True,
    }
    seen = await watcher.expect("call", room=room)
    assert seen["participants"] == state["participants"] and seen["rev"] > both["rev"]

    left = await alice.request({"type": "call-leave", "room": room})
    assert sessions(left) == [bob.sid]
    assert sessions(await watcher.expect("call", room=room, rev=left["rev"])) == [bob.sid]
    refused = await alice.request({"type": "call-leave", "room": room})
    assert refused["type"] == "error" and refused["code"] == "not_in_call"
    refused = await alice.request({"type": "call-state", "room": room, "muted": False})
    assert refused["code"] == "not_in_call"


async def test_signals_reach_only_the_addressed_peer(node, people):
    room = unique_name("room-")
    alice, bob = await people(node, room=room), await people(node, room=room)
    carol = await people(node, room=room)
    bob_tab2 = await people(node, room=room, user=bob)
    for client in (alice, bob, carol):
        await join_call(client, room)
    for client in (alice, bob, carol, bob_tab2):
        await client.drain(0.1)

    await alice.send({"type": "webrtc-offer", "room": room, "to": bob.sid, "sdp": SDP})
    offer = await bob.expect("webrtc-offer")
    assert offer == {
        "type": "webrtc-offer",
        "room": room,
        "from": alice.sid,
        "fromUser": alice.user,
        "sdp": SDP,
    }
    await bob.send({"type": "webrtc-answer", "room": room, "to": alice.sid, "sdp": SDP})
    answer = await alice.expect("webrtc-answer")
    assert answer["from"] == bob.sid and answer["fromUser"] == bob.user
    await bob.send({"type": "webrtc-ice", "room": room, "to": alice.sid, "candidate": CANDIDATE})
    ice = await alice.expect("webrtc-ice")
    assert ice["candidate"] == CANDIDATE and ice["from"] == bob.sid
    end = {"candidate": "", "sdpMid": None, "sdpMLineIndex": None}
    await bob.send({"type": "webrtc-ice", "room": room, "to": alice.sid, "candidate": end})
    assert (await alice.expect("webrtc-ice"))["candidate"] == end

    # Nobody else sees them: not the third participant, not the addressee's other tab.
    await assert_silent(carol, bob_tab2, alice, bob, types=("webrtc-offer", "webrtc-answer"))


async def test_signal_refusals(node, people):
    room = unique_name("room-")
    alice, bob = await people(node, room=room), await people(node, room=room)
    carol = await people(node, room=room)  # in the room, not in the call
    outsider = await people(node)  # not even in the room
    await join_call(alice, room)
    await join_call(bob, room)

    async def refused(client, frame, code):
        reply = await client.request(frame)
        assert reply["type"] == "error" and reply["code"] == code, reply
        return reply

    offer = {"type": "webrtc-offer", "room": room, "sdp": SDP}
    await refused(outsider, {**offer, "to": bob.sid}, "forbidden")
    await refused(outsider, {"type": "call-join", "room": room}, "forbidden")
    not_in_call = await refused(carol, {**offer, "to": bob.sid}, "forbidden")
    assert "call-join" in not_in_call["message"]
    outside = await refused(alice, {**offer, "to": carol.sid}, "forbidden")
    assert "not in this room's call" in outside["message"]
    await refused(alice, {**offer, "to": "no-such-session"}, "forbidden")
    await refused(alice, {**offer, "to": alice.sid}, "invalid")

    # Malformed payloads: wrong types, oversize SDP, unknown fields.
    bad = await refused(alice, {**offer, "to": bob.sid, "sdp": 123}, "invalid")
    assert "sdp" in bad["fields"]
    await refused(alice, {**offer, "to": bob.sid, "sdp": {"type": "offer"}}, "invalid")
    await refused(alice, {"type": "webrtc-offer", "room": room, "to": bob.sid}, "invalid")
    big = await refused(
        alice, {**offer, "to": bob.sid, "sdp": "a" * (MAX_SDP_CHARS + 1)}, "invalid"
    )
    assert "sdp" in big["fields"]
    ice = {"type": "webrtc-ice", "room": room, "to": bob.sid}
    await refused(alice, {**ice, "candidate": "candidate:1 1 udp"}, "invalid")
    await refused(alice, {**ice, "candidate": {**CANDIDATE, "sdpMLineIndex": "0"}}, "invalid")
    await refused(alice, {**ice, "candidate": {**CANDIDATE, "extra": 1}}, "invalid")
    await refused(alice, {**offer, "to": 42}, "invalid")
    await refused(alice, {**offer, "to": bob.sid, "note": "x"}, "invalid")
    await refused(alice, {"type": "call-state", "room": room, "muted": "yes"}, "invalid")

    # The socket is still open and nothing leaked to bob.
    await assert_silent(bob, carol, types=("webrtc-offer", "webrtc-ice"))
    assert (await alice.request({"type": "ping"}))["type"] == "pong"


async def test_a_signal_without_to_goes_to_every_other_participant(node, people):
    room = unique_name("room-")
    alice, bob = await people(node, room=room), await people(node, room=room)
    await join_call(alice, room)
    await join_call(bob, room)
    await alice.send({"type": "webrtc-offer", "room": room, "sdp": SDP})
    assert (await bob.expect("webrtc-offer"))["from"] == alice.sid
    await assert_silent(alice, types=("webrtc-offer",))


async def test_the_seventh_participant_is_refused_with_a_clear_message(node, people):
    room = unique_name("room-")
    first = await people(node, room=room)
    tabs = [first] + [await people(node, room=room, user=first) for _ in range(6)]
    for tab in tabs[:6]:
        await join_call(tab, room)
    full = await tabs[6].request({"type": "call-join", "room": room})
    assert full["type"] == "error" and full["code"] == "call_full"
    assert "6" in full["message"]
    # Joining again from inside the call only updates the state.
    assert len((await join_call(tabs[0], room, video=True))["participants"]) == 6
    await tabs[0].request({"type": "call-leave", "room": room})
    assert len((await join_call(tabs[6], room))["participants"]) == 6


async def test_disconnecting_or_leaving_the_room_leaves_the_call(node, people):
    room = unique_name("room-")
    alice, bob = await people(node, room=room), await people(node, room=room)
    carol = await people(node, room=room)
    for client in (alice, bob, carol):
        await join_call(client, room)
    await bob.ws.close()
    await call_with(alice, room, alice, carol)
    await carol.request({"type": "leave", "room": room})
    await call_with(alice, room, alice)


async def test_a_socket_that_arrives_sees_the_ongoing_call(node, people):
    room = unique_name("room-")
    alice = await people(node, room=room)
    await join_call(alice, room)
    bob = ChatClient(node)
    await bob.register()
    await bob.connect()
    await bob.request({"type": "join", "room": room})
    assert sessions(await bob.expect("call", room=room)) == [alice.sid]
    # And on a fresh connection, right after `ready`.
    await bob.ws.close()
    await bob.connect()
    assert sessions(await bob.expect("call", room=room)) == [alice.sid]
    await bob.close()


# -- DM ringing -------------------------------------------------------------------
async def make_dm(caller: ChatClient, *others: ChatClient) -> str:
    status, body, _ = await caller.call(
        "POST", "/api/dms", json_body={"users": [o.user["username"] for o in others]}
    )
    assert status == 201, body
    return body["room"]["id"]


@pytest.fixture
async def dm_node(start_server, make_settings):
    settings = make_settings(CHATD_CALL_RING_SECONDS="0.5")
    return settings, await start_server(settings=settings)


async def dm_pair(dm_node, people):
    _settings, url = dm_node
    alice, bob = await people(url), await people(url)
    room = await make_dm(alice, bob)
    for client in (alice, bob):  # every socket of both starts receiving the DM
        await client.expect("joined", timeout=5)
        await client.drain(0.05)
    return room, alice, bob


async def test_a_dm_call_rings_the_other_side_until_answered(dm_node, people):
    room, alice, bob = await dm_pair(dm_node, people)
    bob_tab2 = await people(dm_node[1], user=bob)
    await join_call(alice, room)
    for tab in (bob, bob_tab2):
        ring = await tab.expect("call-ring", room=room)
        assert ring["from"] == alice.user and ring["session"] == alice.sid
    await join_call(bob, room)
    for client in (alice, bob, bob_tab2):
        end = await client.expect("call-ring-end", room=room)
        assert end["reason"] == "answered" and end["user"] == bob.user
    await asyncio.sleep(0.7)  # past the ring time: no missed-call notice
    await assert_silent(alice, bob, types=("call-ring-end", "call-ring"))


async def test_a_declined_dm_call(dm_node, people):
    room, alice, bob = await dm_pair(dm_node, people)
    await join_call(alice, room)
    await bob.expect("call-ring", room=room)
    await bob.send({"type": "call-decline", "room": room})
    for client in (alice, bob):
        end = await client.expect("call-ring-end", room=room)
        assert end["reason"] == "declined" and end["user"] == bob.user
        assert end["from"] == alice.user
    await asyncio.sleep(0.7)
    await assert_silent(alice, bob, types=("call-ring-end",))
    refused = await alice.request({"type": "call-decline", "room": room})
    assert refused["code"] == "invalid"


async def test_an_unanswered_dm_call_is_a_missed_call(dm_node, people):
    room, alice, bob = await dm_pair(dm_node, people)
    await join_call(alice, room)
    await bob.expect("call-ring", room=room)
    for client in (alice, bob):
        end = await client.expect("call-ring-end", room=room, timeout=3)
        assert end["reason"] == "missed" and end["from"] == alice.user and "user" not in end
    # The caller hanging up before the timeout is a missed call too.
    await alice.request({"type": "call-leave", "room": room})
    await join_call(alice, room)
    await bob.expect("call-ring", room=room)
    await alice.request({"type": "call-leave", "room": room})
    assert (await bob.expect("call-ring-end", room=room, timeout=1))["reason"] == "missed"
    nothing = await bob.request({"type": "call-decline", "room": room})
    assert nothing["code"] == "not_found"


async def test_group_rooms_do_not_ring(node, people):
    room = unique_name("room-")
    alice, bob = await people(node, room=room), await people(node, room=room)
    await join_call(alice, room)
    await assert_silent(bob, types=("call-ring",))


# -- ICE configuration --------------------------------------------------------------
async def test_ice_servers_hand_out_short_lived_turn_credentials(start_server, people):
    secret = "turn-shared-secret-0123456789"
    url = await start_server(
        STUN_URLS="stun:stun.example.test:3478",
        TURN_URLS="turn:turn.example.test:3478?transport=udp,turns:turn.example.test:5349",
        TURN_SECRET=secret,
    )
    alice = await people(url)
    status, body, response = await alice.call("GET", "/api/ice-servers")
    assert status == 200, body
    assert response.headers["Cache-Control"] == "no-store"
    stun, turn = body["iceServers"]
    assert stun == {"urls": ["stun:stun.example.test:3478"]}
    assert turn["urls"] == [
        "turn:turn.example.test:3478?transport=udp",
        "turns:turn.example.test:5349",
    ]
    expiry, user_id = turn["username"].split(":")
    assert user_id == alice.user["id"]
    assert abs(int(expiry) - (time.time() + body["ttl"])) < 60 and body["ttl"] == 3600
    expected = hmac.new(secret.encode(), turn["username"].encode(), hashlib.sha1).digest()
    assert base64.b64decode(turn["credential"]) == expected
    assert body["iceTransportPolicy"] == "all"
    assert secret not in str(body)

    status, body, _ = await alice.call("GET", "/api/ice-servers", token="")
    assert status == 401


async def test_ice_servers_without_turn_and_the_relay_policy(start_server, people):
    url = await start_server(CHATD_ICE_TRANSPORT_POLICY="relay")
    alice = await people(url)
    _status, body, _ = await alice.call("GET", "/api/ice-servers")
    assert body["iceServers"] == [] and body["iceTransportPolicy"] == "relay"


# -- two nodes over Redis -------------------------------------------------------------
@pytest.fixture
async def two_nodes(start_server, make_settings):
    settings = make_settings(broker="redis", CHATD_PRESENCE_TTL="1")
    return settings, [await start_server(settings=settings) for _ in range(2)]


async def test_calls_across_two_nodes(two_nodes, people):
    _settings, (a, b) = two_nodes
    room = unique_name("room-")
    alice, bob = await people(a, room=room), await people(b, room=room)
    carol = await people(b, room=room)
    await join_call(alice, room, video=True)
    assert sessions(await bob.expect("call", room=room)) == [alice.sid]
    both = await join_call(bob, room, video=True)
    assert sessions(await call_with(alice, room, alice, bob)) == sessions(both)

    await alice.send({"type": "webrtc-offer", "room": room, "to": bob.sid, "sdp": SDP})
    assert (await bob.expect("webrtc-offer"))["from"] == alice.sid
    await bob.send({"type": "webrtc-answer", "room": room, "to": alice.sid, "sdp": SDP})
    assert (await alice.expect("webrtc-answer"))["fromUser"] == bob.user
    await bob.send({"type": "webrtc-ice", "room": room, "to": alice.sid, "candidate": CANDIDATE})
    assert (await alice.expect("webrtc-ice"))["candidate"] == CANDIDATE
    refused = await alice.request(
        {"type": "webrtc-offer", "room": room, "to": carol.sid, "sdp": SDP}
    )
    assert refused["code"] == "forbidden"
    await assert_silent(carol, types=("webrtc-offer", "webrtc-answer", "webrtc-ice"))

    await bob.request({"type": "call-state", "room": room, "camera": False})
    seen = await alice.expect("call", room=room)
    assert seen["participants"][1]["camera"] is False

    await bob.ws.close()
    await call_with(alice, room, alice)
    await call_with(carol, room, alice)


async def test_a_crashed_nodes_participants_expire(two_nodes, people, redis_url):
    settings, (a, _b) = two_nodes
    room = unique_name("room-")
    alice = await people(a, room=room)
    # A participant written by a node that then died: nobody refreshes it.
    ghost_node = RedisBroker(redis_url, settings.redis_prefix)
    await ghost_node.start()
    ghost = Participant("ghost-session", "ghost-user", "ghost", now_ms())
    await ghost_node.roster_put(roster_key(room), ghost.session, ghost.encode(), 0.8)
    await ghost_node.close()

    joined = await join_call(alice, room)
    assert sessions(joined) == ["ghost-session", alice.sid]
    gone = await call_with(alice, room, alice)
    assert gone["rev"] > joined["rev"]
    # And alice, whose node is alive, stays well past the TTL.
    await asyncio.sleep(1.5)
    assert sessions(await join_call(alice, room)) == [alice.sid]


# -- TURN: coturn accepts what chatd hands out ------------------------------------------
async def test_coturn_accepts_the_credentials_and_refuses_forgeries(
    start_server, people, turn_server
):
    url = await start_server(**turn_server.env)
    alice = await people(url)
    _status, body, _ = await alice.call("GET", "/api/ice-servers")
    (turn,) = body["iceServers"]
    assert turn["urls"] == [turn_server.url]
    ok, relayed = await asyncio.to_thread(
        turn_allocate, turn_server.port, turn["username"], turn["credential"]
    )
    assert ok, relayed
    assert relayed.startswith("127.0.0.1:")

    forged = turn["username"].replace(alice.user["id"], "someone-else")
    ok, error = await asyncio.to_thread(turn_allocate, turn_server.port, forged, turn["credential"])
    assert not ok and "401" in error
    expired, credential = turn_credentials(turn_server.secret, alice.user["id"], -60, time.time())
    ok, error = await asyncio.to_thread(turn_allocate, turn_server.port, expired, credential)
    assert not ok, "coturn refuses an expired username"


# -- voice channels ------------------------------------------------------------------------
async def test_voice_channels_have_audio_only_calls(node, people):
    alice = await people(node)
    name = unique_name("Lounge ")
    status, body, _ = await alice.call(
        "POST", "/api/rooms", json_body={"name": name, "voice": True}
    )
    assert status == 201, body
    room = body["room"]["id"]
    assert body["room"]["voice"] is True
    _status, listed, _ = await alice.call("GET", "/api/rooms")
    assert {r["id"]: r["voice"] for r in listed["rooms"]}[room] is True
    bob = await people(node, room=room)

    refused = await alice.request({"type": "call-join", "room": room, "video": True})
    assert refused["code"] == "audio_only" and "audio-only" in refused["message"]
    joined = await join_call(alice, room)
    assert joined["audioOnly"] is True
    assert (await bob.expect("call", room=room))["audioOnly"] is True
    for change in ({"camera": True}, {"screen": True}):
        refused = await alice.request({"type": "call-state", "room": room, **change})
        assert refused["code"] == "audio_only"
    muted = await alice.request({"type": "call-state", "room": room, "muted": True})
    assert muted["participants"][0]["muted"] is True

    # Ordinary rooms say so too.
    _status, body, _ = await alice.call("POST", "/api/rooms", json_body={"name": unique_name("t")})
    assert body["room"]["voice"] is False
