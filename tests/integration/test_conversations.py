"""Conversations over real sockets: two nodes (Redis) on each store adapter.

Alice's sockets are on node 0 and everyone else's on node 1 unless a test says
otherwise, so every live delivery here crosses nodes through the broker.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from chatd.settings import Settings
from tests import images
from tests.client import ChatClient, unique_name
from tests.integration.test_files import stored_objects, upload

MakeClient = Callable[..., Awaitable[ChatClient]]


@pytest.fixture
def shared_settings(make_settings: Any, store_backend: str) -> Settings:
    settings: Settings = make_settings(store=store_backend, broker="redis")
    return settings


@pytest.fixture
async def nodes(start_server: Any, shared_settings: Settings) -> list[str]:
    return [
        await start_server(settings=shared_settings),
        await start_server(settings=shared_settings),
    ]


@pytest.fixture
async def clients(nodes: list[str]) -> AsyncIterator[MakeClient]:
    made: list[ChatClient] = []

    async def make(node: int = 1, *, token: str | None = None) -> ChatClient:
        client = ChatClient(nodes[node])
        made.append(client)
        if token is None:
            await client.register()
        else:
            client.token = token  # another socket of an existing user
        ready = await client.connect()
        client.user = client.user or ready["user"]
        return client

    yield make
    for client in made:
        await client.close()


async def in_a_room(*members: ChatClient) -> str:
    room = unique_name("room-")
    for member in members:
        joined = await member.request({"type": "join", "room": room})
        assert joined["type"] == "joined", joined
    return room


async def say(client: ChatClient, room: str, text: str, **extra: Any) -> dict[str, Any]:
    ack = await client.request({"type": "message", "room": room, "text": text, **extra})
    assert ack["type"] == "ack", ack
    return ack


async def history(client: ChatClient, room: str) -> list[dict[str, Any]]:
    status, body, _ = await client.call("GET", f"/api/rooms/{room}/messages")
    assert status == 200, body
    return list(body["messages"])


async def nothing_more(client: ChatClient, *types: str, after_seq: int = 0) -> None:
    """No frame of these types (with a seq past `after_seq`) arrives, or is waiting,
    while the socket stays quiet for a moment."""
    stray = [
        f
        for f in await client.drain(quiet=0.3)
        if f["type"] in types and f.get("seq", after_seq + 1) > after_seq
    ]
    assert stray == []


# -- edit and delete -----------------------------------------------------------------------


async def test_an_edit_reaches_every_member_live_and_history_shows_it(clients: MakeClient):
    alice, bob = await clients(0), await clients(1)
    room = await in_a_room(alice, bob)
    sent = await say(alice, room, "helo")

    ack = await alice.request({"type": "edit", "room": room, "id": sent["id"], "text": "hello"})

    assert ack["type"] == "ack" and ack["id"] == sent["id"] and ack["seq"] == sent["seq"] + 1
    for client in (alice, bob):
        update = await client.expect("message-update", room=room)
        assert (update["id"], update["seq"], update["text"]) == (sent["id"], ack["seq"], "hello")
        assert update["editedAt"] > 0
    [stored] = await history(bob, room)
    assert (stored["seq"], stored["text"]) == (sent["seq"], "hello")
    assert stored["editedAt"] == update["editedAt"]


async def test_editing_someone_elses_or_a_missing_message_is_refused(clients: MakeClient):
    alice, bob = await clients(0), await clients(1)
    room = await in_a_room(alice, bob)
    sent = await say(alice, room, "mine")

    refused = await bob.request({"type": "edit", "room": room, "id": sent["id"], "text": "no"})
    assert refused["type"] == "error" and refused["code"] == "forbidden"
    assert "own" in refused["message"]
    missing = await alice.request({"type": "edit", "room": room, "id": "nope", "text": "x"})
    assert missing["code"] == "not_found"
    blank = await alice.request({"type": "edit", "room": room, "id": sent["id"], "text": " "})
    assert blank["code"] == "invalid" and "text" in blank["fields"]
    await nothing_more(alice, "message-update")
    assert [m["text"] for m in await history(alice, room)] == ["mine"]


async def test_deletes_by_the_author_or_a_moderator_are_live_and_leave_nothing(
    clients: MakeClient,
):
    owner, bob, carol = await clients(0), await clients(1), await clients(1)
    room = await in_a_room(owner, bob, carol)  # the first to join created it: owner
    by_bob = await say(bob, room, "oops typo unique-word-one")
    by_carol = await say(carol, room, "rude unique-word-two")
    by_owner = await say(owner, room, "rules")

    ack = await bob.request({"type": "delete", "room": room, "id": by_bob["id"]})
    assert ack["type"] == "ack" and ack["seq"] == by_owner["seq"] + 1
    refused = await carol.request({"type": "delete", "room": room, "id": by_owner["id"]})
    assert refused["code"] == "forbidden"
    moderated = await owner.request({"type": "delete", "room": room, "id": by_carol["id"]})
    assert moderated["type"] == "ack"

    for client in (owner, bob, carol):
        for gone in (by_bob, by_carol):
            frame = await client.expect("message-delete", room=room, id=gone["id"])
            assert frame["seq"] in (ack["seq"], moderated["seq"])
    assert [m["text"] for m in await history(carol, room)] == ["rules"]
    status, found, _ = await owner.call("GET", "/api/search?q=unique")
    assert status == 200 and found["messages"] == []
    again = await bob.request({"type": "delete", "room": room, "id": by_bob["id"]})
    assert again["code"] == "not_found"


# -- reactions ---------------------------------------------------------------------------


async def test_reactions_are_live_idempotent_and_counted_per_viewer(clients: MakeClient):
    alice, bob = await clients(0), await clients(1)
    room = await in_a_room(alice, bob)
    sent = await say(alice, room, "ship it?")
    react = {"type": "react", "room": room, "id": sent["id"], "emoji": "👍"}

    first = await bob.request(react)
    again = await bob.request(react)
    await alice.request({**react, "emoji": ":tada:"})
    await alice.request(react)

    assert first["type"] == again["type"] == "ack" and again["seq"] == first["seq"]
    for client in (alice, bob):
        frame = await client.expect("reaction", room=room, seq=first["seq"])
        assert frame["user"] == bob.user and (frame["emoji"], frame["op"]) == ("👍", "add")
    [seen_by_bob] = await history(bob, room)
    assert seen_by_bob["reactions"] == [
        {"emoji": "👍", "count": 2, "me": True},
        {"emoji": ":tada:", "count": 1, "me": False},
    ]
    removed = await bob.request({**react, "type": "unreact"})
    frame = await alice.expect("reaction", room=room, seq=removed["seq"])
    assert frame["op"] == "remove" and frame["user"] == bob.user
    noop = await bob.request({**react, "type": "unreact"})
    assert noop["type"] == "ack" and noop["seq"] == sent["seq"]
    await nothing_more(bob, "reaction", after_seq=removed["seq"])
    [seen_by_alice] = await history(alice, room)
    # Oldest first by the oldest reaction still there: bob's 👍 went, alice's is newer.
    assert seen_by_alice["reactions"] == [
        {"emoji": ":tada:", "count": 1, "me": True},
        {"emoji": "👍", "count": 1, "me": True},
    ]


async def test_reacting_in_a_room_you_are_not_in_or_with_words_is_refused(clients: MakeClient):
    alice, bob = await clients(0), await clients(1)
    room = await in_a_room(alice)
    sent = await say(alice, room, "members only")

    outsider = await bob.request({"type": "react", "room": room, "id": sent["id"], "emoji": "👍"})
    assert outsider["type"] == "error" and outsider["code"] == "forbidden"
    for emoji in ("hello", "👍 👍", "", ":no spaces:", "x" * 65):
        reply = await alice.request(
            {"type": "react", "room": room, "id": sent["id"], "emoji": emoji}
        )
        assert reply["code"] == "invalid" and "emoji" in reply["fields"], emoji
    for emoji in ("❤️", "👍🏽", "👨‍👩‍👧", "🇫🇷", "1️⃣", ":party_parrot:"):
        reply = await alice.request(
            {"type": "react", "room": room, "id": sent["id"], "emoji": emoji}
        )
        assert reply["type"] == "ack", emoji


# -- threads -------------------------------------------------------------------------------


async def test_thread_replies_reach_the_room_and_count_on_the_parent(clients: MakeClient):
    alice, bob, outsider = await clients(0), await clients(1), await clients(1)
    room = await in_a_room(alice, bob)
    parent = await say(alice, room, "lunch?")
    replies = [await say(bob, room, "yes", threadId=parent["id"])]
    # A reply to a reply stays in the parent's thread.
    replies.append(await say(alice, room, "12:30", threadId=replies[0]["id"]))
    replies.append(await say(bob, room, "ok", threadId=parent["id"]))

    for ack in replies:
        live = await alice.expect("message", room=room, id=ack["id"])
        assert live["threadId"] == parent["id"]
    messages = await history(bob, room)
    assert [m["seq"] for m in messages] == [parent["seq"], *(r["seq"] for r in replies)]
    assert messages[0]["threadCount"] == 3
    assert messages[0]["threadLastTs"] == messages[-1]["ts"]

    path = f"/api/rooms/{room}/threads/{parent['id']}/messages"
    status, body, _ = await bob.call("GET", path)
    assert status == 200 and body["parent"]["id"] == parent["id"]
    assert [m["text"] for m in body["messages"]] == ["yes", "12:30", "ok"]
    status, page, _ = await bob.call("GET", f"{path}?limit=2&before={replies[2]['seq']}")
    assert [m["text"] for m in page["messages"]] == ["yes", "12:30"]
    status, page, _ = await bob.call("GET", f"{path}?after={replies[0]['seq']}")
    assert [m["text"] for m in page["messages"]] == ["12:30", "ok"]
    status, _, _ = await outsider.call("GET", path)
    assert status == 404
    status, _, _ = await bob.call("GET", f"/api/rooms/{room}/threads/nothing/messages")
    assert status == 404
    bad = await bob.request({"type": "message", "room": room, "text": "x", "threadId": "nope"})
    assert bad["code"] == "invalid"
    # The parent goes; its replies stay readable as a thread.
    await alice.request({"type": "delete", "room": room, "id": parent["id"]})
    status, body, _ = await bob.call("GET", path)
    assert status == 200 and body["parent"] is None and len(body["messages"]) == 3


# -- mentions, read state, unread ------------------------------------------------------------


async def test_mentions_notify_the_member_on_every_socket_and_count(clients: MakeClient):
    alice, carol = await clients(0), await clients(1)
    stranger = await clients(1)
    room = await in_a_room(alice, carol)
    carol_name, stranger_name = carol.user["username"], stranger.user["username"]

    sent = await say(alice, room, f"@{carol_name.upper()} and @{stranger_name}, see this")

    notice = await carol.expect("mention", room=room)
    assert (notice["id"], notice["seq"], notice["user"]) == (sent["id"], sent["seq"], alice.user)
    assert notice["text"].startswith("@")
    unread = await carol.expect("unread", room=room)
    assert (unread["count"], unread["mentions"]) == (1, 1)
    message = await carol.expect("message", room=room, id=sent["id"])
    assert message["mentions"] == [carol.user]
    await nothing_more(stranger, "mention")

    everyone = await say(alice, room, "@room meeting now")
    message = await carol.expect("message", room=room, id=everyone["id"])
    assert message["mentionsRoom"] is True and "mentions" not in message
    ready = await carol.connect()
    [info] = [r for r in ready["rooms"] if r["id"] == room]
    assert (info["unread"], info["mentions"], info["lastRead"]) == (2, 2, 0)


async def test_a_file_caption_mentions_and_notifies_like_any_message(clients: MakeClient):
    # An upload is posted through the same action as a `message` frame, so its
    # caption's mentions are resolved, notified and counted the same way.
    alice, bob = await clients(0), await clients(1)
    room = await in_a_room(alice, bob)

    status, body, _ = await upload(
        alice,
        room,
        [("plan.txt", b"the plan\n", "text/plain")],
        text=f"@{bob.user['username']} read this",
    )

    assert status == 201, body
    sent = body["message"]
    assert sent["mentions"] == [bob.user]
    notice = await bob.expect("mention", room=room)
    assert (notice["id"], notice["seq"], notice["user"]) == (sent["id"], sent["seq"], alice.user)
    unread = await bob.expect("unread", room=room)
    assert (unread["count"], unread["mentions"]) == (1, 1)
    ready = await bob.connect()
    [info] = [r for r in ready["rooms"] if r["id"] == room]
    assert (info["unread"], info["mentions"]) == (1, 1)
    await nothing_more(alice, "mention")


async def test_read_state_syncs_across_tabs_on_both_nodes_and_never_goes_back(
    clients: MakeClient,
):
    alice = await clients(0)
    bob_here = await clients(0)
    bob_there = await clients(1, token=bob_here.token)
    room = await in_a_room(alice, bob_here)
    acks = [await say(alice, room, f"m{i}") for i in range(3)]

    reply = await bob_here.request({"type": "read", "room": room, "seq": acks[1]["seq"]})
    assert reply["type"] == "read" and reply["seq"] == acks[1]["seq"]
    assert reply["user"] == bob_here.user
    synced = await bob_there.expect("read", room=room)
    assert synced["seq"] == acks[1]["seq"]
    for tab in (bob_here, bob_there):
        unread = await tab.expect("unread", room=room)
        assert (unread["count"], unread["lastRead"]) == (1, acks[1]["seq"])
    await nothing_more(alice, "read")  # not a DM: no receipts

    back = await bob_there.request({"type": "read", "room": room, "seq": 1})
    assert back["seq"] == acks[1]["seq"]
    far = await bob_there.request({"type": "read", "room": room, "seq": 10_000})
    assert far["seq"] == acks[2]["seq"], "nobody reads past the last event"
    ready = await bob_here.connect()
    [info] = [r for r in ready["rooms"] if r["id"] == room]
    assert (info["lastRead"], info["unread"], info["mentions"]) == (acks[2]["seq"], 0, 0)


# -- direct messages ---------------------------------------------------------------------------


async def test_a_dm_opens_live_for_both_and_is_found_again_for_the_same_pair(
    clients: MakeClient,
):
    alice, bob, carol = await clients(0), await clients(1), await clients(1)
    names = [bob.user["username"]]

    status, body, _ = await alice.call("POST", "/api/dms", json_body={"users": names})
    assert status == 201
    dm = body["room"]
    assert dm["kind"] == "dm" and dm["private"] and dm["id"].startswith("dm-")
    assert {m["id"] for m in dm["members"]} == {alice.user["id"], bob.user["id"]}
    for client in (alice, bob):
        joined = await client.expect("joined")
        assert joined["room"]["id"] == dm["id"]
    status, again, _ = await bob.call(
        "POST", "/api/dms", json_body={"users": [alice.user["username"].upper(), names[0]]}
    )
    assert status == 201 and again["room"]["id"] == dm["id"]

    ack = await say(bob, dm["id"], "hi alice")
    assert (await alice.expect("message", room=dm["id"]))["id"] == ack["id"]
    # Outsiders can neither join, read, mark read nor write.
    assert (await carol.request({"type": "join", "room": dm["id"]}))["code"] == "not_found"
    status, _, _ = await carol.call("GET", f"/api/rooms/{dm['id']}/messages")
    assert status == 404
    refused = await carol.request({"type": "read", "room": dm["id"], "seq": 1})
    assert refused["code"] == "forbidden"
    assert (await carol.request({"type": "message", "room": dm["id"], "text": "hi"}))[
        "code"
    ] == "forbidden"
    # Members are fixed.
    assert (await bob.request({"type": "leave", "room": dm["id"]}))["code"] == "invalid"
    status, _, _ = await alice.call(
        "POST", f"/api/rooms/{dm['id']}/members", json_body={"username": carol.user["username"]}
    )
    assert status == 422


async def test_dm_read_receipts_and_listing_by_latest_activity(clients: MakeClient):
    alice, bob, carol = await clients(0), await clients(1), await clients(1)
    status, with_bob, _ = await alice.call(
        "POST", "/api/dms", json_body={"users": [bob.user["username"]]}
    )
    status, group, _ = await alice.call(
        "POST",
        "/api/dms",
        json_body={"users": [bob.user["username"], carol.user["username"]]},
    )
    assert status == 201 and len(group["room"]["members"]) == 3
    with_bob_id, group_id = with_bob["room"]["id"], group["room"]["id"]
    await bob.expect("joined", timeout=5)
    await bob.expect("joined", timeout=5)

    await say(alice, group_id, "group first")
    ack = await say(alice, with_bob_id, "pair later")
    status, listing, _ = await alice.call("GET", "/api/dms")
    assert [d["id"] for d in listing["dms"]] == [with_bob_id, group_id]

    await bob.expect("message", room=with_bob_id, id=ack["id"])
    await bob.request({"type": "read", "room": with_bob_id, "seq": ack["seq"]})
    receipt = await alice.expect("read", room=with_bob_id)
    assert receipt["user"] == bob.user and receipt["seq"] == ack["seq"]
    status, listing, _ = await alice.call("GET", "/api/dms")
    [pair] = [d for d in listing["dms"] if d["id"] == with_bob_id]
    assert pair["readPositions"][bob.user["id"]] == ack["seq"]
    assert pair["lastSeq"] == ack["seq"]


@pytest.mark.parametrize(
    ("users", "field_message"),
    [
        ([], "1-9 users"),
        (["nobody-by-that-name"], "No such user: nobody-by-that-name"),
        ([f"u{i}x" for i in range(11)], "1-9 users"),
    ],
)
async def test_bad_dm_requests_get_clear_errors(clients: MakeClient, users, field_message):
    alice = await clients(0)
    status, body, _ = await alice.call("POST", "/api/dms", json_body={"users": users})
    assert status == 422 and field_message.lower() in str(body["error"]["fields"]).lower()


async def test_a_dm_with_only_yourself_is_refused(clients: MakeClient):
    alice = await clients(0)
    status, body, _ = await alice.call(
        "POST", "/api/dms", json_body={"users": [alice.user["username"]]}
    )
    assert status == 422 and "users" in body["error"]["fields"]


# -- search ------------------------------------------------------------------------------------


async def test_search_covers_only_rooms_you_are_in(clients: MakeClient):
    alice, bob = await clients(0), await clients(1)
    status, body, _ = await alice.call(
        "POST", "/api/rooms", json_body={"name": "plans", "private": True}
    )
    private = body["room"]["id"]
    public = await in_a_room(alice, bob)
    await say(alice, private, "the launch is friday")
    await say(bob, public, "Launch party on Friday!")

    status, found, _ = await alice.call("GET", "/api/search?q=friday+launch")
    assert status == 200 and [m["room"] for m in found["messages"]] == [public, private]
    status, found, _ = await bob.call("GET", "/api/search?q=launch")
    assert [m["room"] for m in found["messages"]] == [public]
    status, _, _ = await bob.call("GET", f"/api/search?q=launch&room={private}")
    assert status == 404

    left = await alice.request({"type": "leave", "room": private})
    assert left["type"] == "left"
    status, found, _ = await alice.call("GET", "/api/search?q=launch")
    assert [m["room"] for m in found["messages"]] == [public]
    status, body, _ = await alice.call("GET", f"/api/search?q=launch&room={private}")
    assert status == 404 and body["error"]["code"] == "not_found"


async def test_search_filters_and_pages(clients: MakeClient):
    alice, bob = await clients(0), await clients(1)
    room = await in_a_room(alice, bob)
    acks = []
    for i in range(5):
        acks.append(await say(alice if i % 2 else bob, room, f"report number {i}"))
        await asyncio.sleep(0.002)  # distinct milliseconds: one right order
    messages = await history(alice, room)
    ts = [m["ts"] for m in messages]

    status, page, _ = await alice.call("GET", f"/api/search?q=report&room={room}&limit=2")
    assert [m["text"] for m in page["messages"]] == ["report number 4", "report number 3"]
    status, rest, _ = await alice.call(
        "GET", f"/api/search?q=report&room={room}&limit=2&cursor={page['nextCursor']}"
    )
    assert [m["text"] for m in rest["messages"]] == ["report number 2", "report number 1"]
    status, by_alice, _ = await bob.call(
        "GET", f"/api/search?q=REPORT&user={alice.user['username']}"
    )
    assert [m["text"] for m in by_alice["messages"]] == ["report number 3", "report number 1"]
    assert by_alice["nextCursor"] is None
    status, window, _ = await bob.call("GET", f"/api/search?q=report&after={ts[0]}&before={ts[3]}")
    assert [m["text"] for m in window["messages"]] == ["report number 2", "report number 1"]
    for bad, field in [
        ("q=%21%21%21", "q"),
        ("q=a&user=nobody-here", "user"),
        ("q=a&cursor=garbage", "cursor"),
        ("q=a&limit=0", "limit"),
    ]:
        status, body, _ = await bob.call("GET", f"/api/search?{bad}")
        assert status == 422 and field in body["error"]["fields"], bad


# -- resume ------------------------------------------------------------------------------------


async def test_a_resumed_client_does_not_get_again_what_this_node_delivers_late(
    clients: MakeClient, start_server: Any, shared_settings: Settings
):
    """A node that stored an event and died before publishing it: the client had it,
    and the node it resumes on delivers it only when a later event shows the gap."""
    alice, bob = await clients(1), await clients(1)
    room = await in_a_room(alice, bob)
    # A node on the same store with a broker of its own: what it stores, no other
    # node hears of (as if it died right after storing).
    loner = await start_server(settings=dataclasses.replace(shared_settings, redis_url=None))
    await bob.ws.close()
    bob_there = ChatClient(loner)
    bob_there.token = bob.token
    await bob_there.connect()
    unpublished = await say(bob_there, room, "stored, never published")
    await bob_there.close()

    await bob.connect(resume={room: unpublished["seq"]})
    assert (await bob.expect("resumed"))["rooms"] == {room: unpublished["seq"]}
    later = await say(alice, room, "later")
    await bob.expect("message", id=later["id"])
    seen = [f["seq"] for f in bob.backlog + await bob.drain() if "seq" in f]
    assert unpublished["seq"] not in seen, "bob had it before he came back"




async def test_resume_replays_edits_deletes_and_reactions_in_seq_order(clients: MakeClient):
    alice, bob = await clients(0), await clients(1)
    room = await in_a_room(alice, bob)
    kept = await say(alice, room, "draft")
    doomed = await say(alice, room, "oops")
    await bob.expect("message", id=doomed["id"])
    await bob.close()

    edit = await alice.request({"type": "edit", "room": room, "id": kept["id"], "text": "final"})
    react = await alice.request({"type": "react", "room": room, "id": kept["id"], "emoji": "✅"})
    delete = await alice.request({"type": "delete", "room": room, "id": doomed["id"]})
    later = await say(alice, room, "after")

    bob_again = await clients(0, token=bob.token)  # back, on the other node
    await bob_again.send({"type": "resume", "rooms": {room: doomed["seq"]}, "ref": "res"})
    resumed = await bob_again.expect("resumed", ref="res")
    assert resumed["rooms"] == {room: later["seq"]}
    replayed = [f for f in bob_again.backlog if f.get("room") == room and "seq" in f]
    assert [(f["type"], f["seq"]) for f in replayed] == [
        ("message-update", edit["seq"]),
        ("reaction", react["seq"]),
        ("message-delete", delete["seq"]),
        ("message", later["seq"]),
    ]
    assert replayed[0]["text"] == "final" and replayed[1]["emoji"] == "✅"


async def test_concurrent_events_from_both_nodes_arrive_gapless_and_in_order_everywhere(
    clients: MakeClient,
):
    alice, bob = await clients(0), await clients(1)
    watchers = [await clients(0), await clients(1)]
    room = await in_a_room(alice, bob, *watchers)
    base = await say(alice, room, "base")

    async def busy(client: ChatClient, tag: str) -> None:
        for i in range(4):
            await client.send({"type": "message", "room": room, "text": f"{tag}{i}"})
            await client.send(
                {"type": "react", "room": room, "id": base["id"], "emoji": f":{tag}{i}:"}
            )
        if client is alice:
            await client.send({"type": "edit", "room": room, "id": base["id"], "text": "edited"})

    await asyncio.gather(busy(alice, "a"), busy(bob, "b"))
    last = base["seq"] + 17
    for watcher in watchers:
        seen: list[int] = []
        while not seen or seen[-1] < last:
            frame = await watcher.recv()
            if frame.get("room") == room and "seq" in frame and frame["type"] != "ack":
                seen.append(frame["seq"])
        assert seen == list(range(base["seq"], last + 1))


# -- files of deleted messages ---------------------------------------------------------------


async def test_deleting_a_file_message_deletes_its_objects_and_urls(
    start_server: Any, make_settings: Any, store_backend: str, s3_env: dict[str, str]
):
    # s3_env is requested here: its bucket is made by an async fixture, which
    # make_settings cannot start from inside the running test.
    settings = make_settings(store=store_backend, broker="redis", files="s3")
    base = [await start_server(settings=settings), await start_server(settings=settings)]
    owner, bob = ChatClient(base[0]), ChatClient(base[1])
    try:
        for client in (owner, bob):
            await client.register()
            await client.connect()
        room = await in_a_room(owner, bob)
        status, body, _ = await upload(
            bob,
            room,
            [("photo.png", images.png(), "image/png"), ("notes.txt", b"hi", "text/plain")],
        )
        assert status == 201, body
        sent = body["message"]
        assert len(await stored_objects(settings)) == 3  # two files and a thumbnail

        ack = await owner.request({"type": "delete", "room": room, "id": sent["id"]})

        assert ack["type"] == "ack"
        assert await stored_objects(settings) == []
        await bob.expect("message-delete", id=sent["id"])
        status, _, _ = await bob.call("GET", sent["fileUrl"])
        assert status == 404
    finally:
        for client in (owner, bob):
            await client.close()


@pytest.mark.parametrize("store_backend", ["sqlite"])
async def test_the_openapi_document_describes_the_conversation_endpoints(clients: MakeClient):
    alice = await clients(0)
    status, spec, _ = await alice.call("GET", "/api/openapi.json")
    assert status == 200
    paths = spec["paths"]
    assert {"get", "post"} <= set(paths["/api/dms"])
    assert "get" in paths["/api/search"]
    assert "get" in paths["/api/rooms/{room}/threads/{id}/messages"]
