"""Two chatd processes sharing a real redis-server and one store."""

from __future__ import annotations

import asyncio
import contextlib
import shutil

import pytest

from tests.client import ChatClient, unique_name
from tests.integration.processes import ChatdProcess
from tests.integration.test_files import upload

pytestmark = pytest.mark.slow


@pytest.fixture(params=["sqlite", "mongo"])
def cluster(request, tmp_path, redis_url):
    """Start two nodes on one store (a shared SQLite file, or one Mongo database)."""
    env = {"REDIS_URL": redis_url, "CHATD_MESSAGE_RATE": "200", "CHATD_PRESENCE_TTL": "3"}
    if request.param == "mongo":
        env["MONGODB_URI"] = request.getfixturevalue("mongo_db_uri")
    nodes = [ChatdProcess(tmp_path / "shared", tmp_path, **env) for _ in range(2)]
    for node in nodes:
        node.start()
    yield nodes
    for node in nodes:
        node.stop_quietly()


@pytest.fixture
async def people():
    made: list[ChatClient] = []

    async def person(node: ChatdProcess) -> ChatClient:
        client = ChatClient(node.url)
        made.append(client)
        await client.register()
        await client.connect()
        return client

    yield person
    for client in made:
        await client.close()


async def test_users_on_two_nodes_chat_see_presence_and_typing_with_gapless_seqs(cluster, people):
    a, b = cluster
    alice, bob = await people(a), await people(b)
    room = unique_name("room-")
    await alice.request({"type": "join", "room": room})
    await bob.request({"type": "join", "room": room})
    await expect_online(alice, room, alice, bob)

    await bob.send({"type": "typing", "room": room})
    assert (await alice.expect("typing", room=room))["user"] == bob.user

    seqs = []
    for i in range(10):
        sender = alice if i % 2 else bob
        ack = await sender.request({"type": "message", "room": room, "text": f"m{i}"})
        seqs.append(ack["seq"])
    assert seqs == list(range(1, 11))
    for client in (alice, bob):
        got = [await client.expect("message", room=room) for _ in range(10)]
        assert [m["seq"] for m in got] == seqs, "each node delivers in seq order"

    await bob.close()
    await expect_online(alice, room, alice)


async def test_a_client_moved_to_the_other_node_resumes_with_nothing_missing(cluster, people):
    a, b = cluster
    alice, bob = await people(a), await people(b)
    room = unique_name("room-")
    for c in (alice, bob):
        await c.request({"type": "join", "room": room})
    first = await alice.request({"type": "message", "room": room, "text": "before"})
    await bob.expect("message", id=first["id"])
    await bob.ws.close()
    sent = [
        (await alice.request({"type": "message", "room": room, "text": f"gap {i}"}))["id"]
        for i in range(5)
    ]
    bob.base_url = a.url  # reconnect to the *other* node
    await bob.connect()
    await bob.send({"type": "resume", "rooms": {room: first["seq"]}, "ref": "r"})
    await bob.expect("resumed", ref="r")
    live = await alice.request({"type": "message", "room": room, "text": "after"})
    await bob.expect("message", id=live["id"])
    received = [f["id"] for f in bob.backlog if f["type"] == "message" and f["room"] == room]
    assert received == sent, "every missed message, once, in order"


async def test_killing_a_node_loses_no_acked_message(cluster, people):
    a, b = cluster
    writer, reader = await people(a), await people(b)
    room = unique_name("room-")
    for c in (writer, reader):
        await c.request({"type": "join", "room": room})
    acked: dict[str, str] = {}  # nonce -> message id

    async def write(count: int) -> None:
        for i in range(count):
            nonce = f"n{len(acked)}-{i}"
            frame = {"type": "message", "room": room, "text": nonce, "nonce": nonce}
            while True:
                try:
                    reply = await writer.request(frame, timeout=3)
                    if reply["type"] == "ack":
                        acked[nonce] = reply["id"]
                        break
                except (ConnectionError, TimeoutError):
                    pass
                # The node died under us: reconnect to the survivor and retry the
                # same nonce (stored once even if the first try made it).
                writer.base_url = b.url
                await writer.connect()

    await write(20)
    a.kill()  # mid-conversation, nothing gets to clean up
    await write(20)

    delivered: dict[str, int] = {}
    last_seq = 0
    for frame in reader.backlog + await reader.drain(quiet=1.0):
        if frame["type"] == "message" and frame["room"] == room:
            delivered[frame["id"]] = delivered.get(frame["id"], 0) + 1
            last_seq = max(last_seq, frame["seq"])
    # The reader was on the survivor all along; anything it missed, resume brings.
    await reader.send({"type": "resume", "rooms": {room: last_seq}, "ref": "r"})
    await reader.expect("resumed", ref="r")
    for frame in reader.backlog:
        if frame["type"] == "message" and frame["room"] == room:
            delivered[frame["id"]] = delivered.get(frame["id"], 0) + 1
    assert set(acked.values()) <= set(delivered), "every acked message is delivered"
    assert all(n == 1 for n in delivered.values()), "and exactly once"
    _, body, _ = await reader.call("GET", f"/api/rooms/{room}/messages")
    assert [m["seq"] for m in body["messages"]] == list(range(1, len(acked) + 1))


async def test_a_file_caption_mention_reaches_the_member_on_the_other_node(cluster, people):
    a, b = cluster
    alice, bob = await people(a), await people(b)
    room = unique_name("room-")
    for c in (alice, bob):
        await c.request({"type": "join", "room": room})

    status, body, _ = await upload(
        alice, room, [("notes.txt", b"notes\n", "text/plain")], text=f"@{bob.user['username']} fyi"
    )

    assert status == 201, body
    notice = await bob.expect("mention", room=room)
    assert notice["id"] == body["message"]["id"]
    unread = await bob.expect("unread", room=room)
    assert (unread["count"], unread["mentions"]) == (1, 1)


async def test_the_sample_plugin_works_on_both_nodes(cluster, people):
    a, b = cluster
    alice, bob = await people(a), await people(b)
    room = unique_name("room-")
    for c in (alice, bob):
        await c.request({"type": "join", "room": room})
    alice.check_frames = bob.check_frames = False  # `roll` is the plugin's own frame
    await alice.send({"type": "roll", "room": room, "dice": "3d6"})
    for client in (alice, bob):
        roll = await client.expect("roll", room=room)
        assert roll["user"] == alice.user and len(roll["rolls"]) == 3
        assert roll["total"] == sum(roll["rolls"]) and all(1 <= r <= 6 for r in roll["rolls"])
    bad = await bob.request({"type": "roll", "room": room, "dice": "99d1"})
    assert bad["type"] == "error" and bad["code"] == "invalid"


async def test_a_crashed_nodes_users_drop_out_of_presence(cluster, people):
    a, b = cluster
    alice, bob = await people(a), await people(b)
    room = unique_name("room-")
    for c in (alice, bob):
        await c.request({"type": "join", "room": room})
    await expect_online(bob, room, alice, bob)
    a.kill()
    # CHATD_PRESENCE_TTL=3 here: entries expire after 3 s and the survivor's
    # heartbeat (every TTL/3) notices within about one more second.
    await asyncio.wait_for(expect_online(bob, room, bob, timeout=10), 10)


async def expect_online(observer: ChatClient, room: str, *online: ChatClient, timeout=10):
    wanted = sorted(c.user["username"] for c in online)
    while True:
        frame = await observer.expect("presence", room=room, timeout=timeout)
        if sorted(u["username"] for u in frame["users"]) == wanted:
            return


async def test_redis_restarting_under_traffic_loses_nothing(tmp_path, restartable_redis, people):
    env = {"REDIS_URL": restartable_redis.url, "CHATD_MESSAGE_RATE": "200"}
    a, b = (ChatdProcess(tmp_path / "shared", tmp_path, **env) for _ in range(2))
    try:
        a.start()
        b.start()
        alice, bob = await people(a), await people(b)
        room = unique_name("room-")
        for c in (alice, bob):
            await c.request({"type": "join", "room": room})
        sent = [(await alice.request({"type": "message", "room": room, "text": "m0"}))["id"]]
        restartable_redis.stop()
        for i in range(1, 6):  # stored and acked on node A while Redis is away
            ack = await alice.request({"type": "message", "room": room, "text": f"m{i}"})
            assert ack["type"] == "ack", ack
            sent.append(ack["id"])
        restartable_redis.start()
        # Node B notices the reconnect and reads what it missed from the store:
        # bob receives every message without asking.
        received = []
        while len(received) < len(sent):
            frame = await bob.expect("message", room=room, timeout=20)
            received.append(frame["id"])
        assert received == sent
        after = await alice.request({"type": "message", "room": room, "text": "after"})
        assert (await bob.expect("message", room=room, timeout=10))["id"] == after["id"]
    finally:
        a.stop_quietly()
        b.stop_quietly()


#: Receivers moved off the killed node, rooms, and seconds of traffic before and
#: after the kill: enough that live events land between a reconnected socket's
#: `ready` and its `resume` frame in every run (the old server sent those twice).
FAILOVER_RECEIVERS = 8
FAILOVER_ROOMS = 3
FAILOVER_TRAFFIC_SECONDS = 1.5


@pytest.mark.parametrize("resume_in", ["hello", "frame"])
async def test_receivers_moved_off_a_killed_node_get_each_event_once(cluster, people, resume_in):
    """kill -9 the receivers' node under traffic; they reconnect to the survivor and resume.

    `hello`: the resume map rides in hello, so every room's seqs on the new socket
    run from the last one had, without a gap, a repeat or anything out of order.
    `frame`: a `resume` frame after `ready`: events live before it may come first,
    but none twice, and every event exactly once over both sockets.
    """
    a, b = cluster
    rooms = [unique_name("room-") for _ in range(FAILOVER_ROOMS)]
    senders = [await people(b) for _ in rooms]
    receivers = [await people(a) for _ in range(FAILOVER_RECEIVERS)]
    for sender, room in zip(senders, rooms, strict=True):
        await sender.request({"type": "join", "room": room})
    for receiver in receivers:
        for room in rooms:
            await receiver.request({"type": "join", "room": room})
        receiver.backlog.clear()

    acked: dict[str, list[int]] = {room: [] for room in rooms}
    sending = True

    async def send(sender: ChatClient, room: str) -> None:
        while sending:
            nonce = unique_name("n")
            frame = {"type": "message", "room": room, "text": nonce, "nonce": nonce}
            reply = await sender.request(frame)
            if reply["type"] == "ack":
                acked[room].append(reply["seq"])
            else:  # rate_limited: wait as told
                await asyncio.sleep(reply.get("retryAfter", 0.1))

    async def pump(receiver: ChatClient, seen: list[dict]) -> None:
        """Record the socket's room events and `resumed` until it closes."""
        seen.extend(receiver.backlog)
        receiver.backlog.clear()
        with contextlib.suppress(ConnectionError, TimeoutError):
            while True:
                seen.append(await receiver.recv(timeout=60))

    before: list[list[dict]] = [[] for _ in receivers]
    after: list[list[dict]] = [[] for _ in receivers]
    pumps = [asyncio.create_task(pump(r, seen)) for r, seen in zip(receivers, before, strict=True)]
    traffic = [asyncio.create_task(send(s, room)) for s, room in zip(senders, rooms, strict=True)]
    await asyncio.sleep(FAILOVER_TRAFFIC_SECONDS)
    a.kill()
    await asyncio.wait_for(asyncio.gather(*pumps), 10)  # every socket on A closed

    async def move(receiver: ChatClient, had: list[dict], seen: list[dict]) -> None:
        last = {room: max(room_seqs(had, room), default=0) for room in rooms}
        receiver.base_url = b.url
        if resume_in == "hello":
            await receiver.connect(resume=last)
        else:
            await receiver.connect()
            await receiver.send({"type": "resume", "rooms": last, "ref": "res"})
        await pump(receiver, seen)

    pumps = [
        asyncio.create_task(move(r, had, seen))
        for r, had, seen in zip(receivers, before, after, strict=True)
    ]
    await asyncio.sleep(FAILOVER_TRAFFIC_SECONDS)
    sending = False
    await asyncio.gather(*traffic)
    final = {room: max(acked[room]) for room in rooms}
    deadline = asyncio.get_running_loop().time() + 30
    while any(
        max(room_seqs(seen, room), default=0) < final[room] for seen in after for room in rooms
    ):
        assert asyncio.get_running_loop().time() < deadline, "a receiver never caught up"
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.5)  # anything sent twice, late, arrives too
    for pumping in pumps:
        pumping.cancel()

    for had, seen in zip(before, after, strict=True):
        assert [f for f in seen if f["type"] == "resumed"], "the resume was answered"
        for room in rooms:
            old, new = room_seqs(had, room), room_seqs(seen, room)
            assert old == sorted(set(old)), "live delivery on node A was in order"
            assert set(acked[room]) <= set(old + new), "every acked message arrived"
            assert sorted(old + new) == list(range(1, final[room] + 1)), (
                f"{room}: each event exactly once over both sockets; the new one got {new}"
            )
            if resume_in == "hello":
                assert new == list(range(len(old) + 1, final[room] + 1)), (
                    f"{room}: after hello.resume, in order from the last seq had: {new}"
                )


def room_seqs(frames: list[dict], room: str) -> list[int]:
    """The seqs of a room's messages in the order a socket received them."""
    return [f["seq"] for f in frames if f["type"] == "message" and f["room"] == room]


async def test_two_deployments_on_one_redis_see_nothing_of_each_other(tmp_path, redis_url):
    """One redis-server and database, the same users and room (B starts from a copy
    of A's data, so even the user ids match): only CHATD_REDIS_PREFIX sets them
    apart, and it must, since Redis pub/sub ignores the database number."""
    seed = ChatdProcess(tmp_path / "a", tmp_path).start()
    alice, bob = ChatClient(seed.url), ChatClient(seed.url)
    try:
        names = [(await c.register())["user"]["username"] for c in (alice, bob)]
    finally:
        await alice.close()
        await bob.close()
    assert seed.terminate() == 0
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    a, b = (
        ChatdProcess(tmp_path / name, tmp_path, REDIS_URL=redis_url, CHATD_REDIS_PREFIX=f"{name}:")
        for name in ("a", "b")
    )
    clients: list[ChatClient] = []

    async def signed_in(node: ChatdProcess, username: str) -> ChatClient:
        client = ChatClient(node.url)
        clients.append(client)
        assert (await client.login(username))[0] == 200
        await client.connect()
        return client

    try:
        a.start()
        b.start()
        alice_a = await signed_in(a, names[0])
        alice_b, bob_b = await signed_in(b, names[0]), await signed_in(b, names[1])
        room = unique_name("room-")
        await alice_a.request({"type": "join", "room": room})
        await alice_a.drain()  # the frames of its own join
        for client in (alice_b, bob_b):
            await client.request({"type": "join", "room": room})
        await expect_online(alice_b, room, alice_b, bob_b)

        await alice_a.send({"type": "typing", "room": room})
        sent_a = await alice_a.request({"type": "message", "room": room, "text": "on a"})
        assert sent_a["type"] == "ack"
        await bob_b.send({"type": "typing", "room": room})
        sent_b = await bob_b.request({"type": "message", "room": room, "text": "on b"})
        assert sent_b["type"] == "ack"
        # Each deployment works...
        assert (await alice_b.expect("typing", room=room))["user"] == bob_b.user
        assert (await alice_b.expect("message", room=room))["text"] == "on b"

        # ...and no frame crosses: no message, typing, presence or user event.
        seen_a = await alice_a.drain(quiet=1.0)
        seen_b = await alice_b.drain(quiet=1.0) + await bob_b.drain(quiet=0.1)
        assert [f for f in seen_a if f["type"] == "message" and f["text"] == "on b"] == []
        assert [f for f in seen_b if f["type"] == "message" and f["text"] == "on a"] == []
        assert [f for f in seen_a if f["type"] in ("typing", "joined")] == []
        assert [f for f in seen_b if f["type"] == "typing" and f["user"] == alice_a.user] == []
        online_a = {u["username"] for f in seen_a if f["type"] == "presence" for u in f["users"]}
        assert names[1] not in online_a, seen_a
    finally:
        for client in clients:
            await client.close()
        a.stop_quietly()
        b.stop_quietly()


#: The outage of the issue's headline check (#20), and the pace of the traffic
#: through it: each sender sends one message per TRAFFIC_PERIOD.
REDIS_OUTAGE_SECONDS = 20
TRAFFIC_PERIOD = 0.25


async def test_redis_down_20_s_under_traffic_on_two_nodes_no_500_and_each_ack_delivered_once(
    tmp_path, restartable_redis, people
):
    env = {"REDIS_URL": restartable_redis.url, "CHATD_MESSAGE_RATE": "200"}
    nodes = [ChatdProcess(tmp_path / "shared", tmp_path, **env) for _ in range(2)]
    readers: list[asyncio.Task[None]] = []
    try:
        for node in nodes:
            node.start()
        # A sender and a receiver on each node; every one of them receives.
        clients = [await people(node) for node in nodes for _ in range(2)]
        room = unique_name("room-")
        for client in clients:
            assert (await client.request({"type": "join", "room": room}))["type"] == "joined"
        frames: list[list[dict]] = [[] for _ in clients]

        async def read(client: ChatClient, into: list[dict]) -> None:
            with contextlib.suppress(ConnectionError):
                while True:
                    with contextlib.suppress(TimeoutError):
                        into.append(await client.recv(timeout=1))

        readers = [asyncio.create_task(read(c, f)) for c, f in zip(clients, frames, strict=True)]
        senders = clients[::2]
        statuses: list[tuple[str, int]] = []
        stop = asyncio.Event()

        async def traffic() -> None:
            count = 0
            while not stop.is_set():
                for sender in senders:
                    count += 1
                    await sender.send(
                        {"type": "message", "room": room, "text": f"m{count}", "ref": f"m{count}"}
                    )
                    # REST on the sender's node: reads, a write, a login.
                    for method, path, body in (
                        ("GET", f"/api/rooms/{room}/messages", None),
                        ("GET", f"/api/rooms/{room}/members", None),
                        ("POST", "/api/rooms", {"name": unique_name("r")}),
                    ):
                        status, _, _ = await sender.call(method, path, json_body=body)
                        statuses.append((path, status))
                    assert sender.user is not None
                    status, _ = await sender.login(sender.user["username"])
                    statuses.append(("login", status))
                await asyncio.sleep(TRAFFIC_PERIOD)

        running = asyncio.create_task(traffic())
        await asyncio.sleep(1)
        restartable_redis.stop()
        await asyncio.sleep(REDIS_OUTAGE_SECONDS)
        restartable_redis.start()
        await asyncio.sleep(1)
        stop.set()
        await running

        assert not [s for s in statuses if s[1] >= 500], statuses
        assert {status for _, status in statuses} <= {200, 201}, statuses
        acked = [f["id"] for fs in frames[::2] for f in fs if f["type"] == "ack"]
        assert len(acked) > REDIS_OUTAGE_SECONDS / TRAFFIC_PERIOD, len(acked)
        # The hub's catch-up brings each node what the other stored meanwhile.
        deadline = asyncio.get_running_loop().time() + 30
        for received in frames:
            while {f["id"] for f in received if f["type"] == "message"} < set(acked):
                assert asyncio.get_running_loop().time() < deadline, "not all delivered"
                await asyncio.sleep(0.2)
        await asyncio.sleep(1)  # anything delivered twice would come now
        for received in frames:
            ids = [f["id"] for f in received if f["type"] == "message" and f["room"] == room]
            assert sorted(ids) == sorted(set(ids)), "a message delivered twice"
            assert set(ids) == set(acked)
            assert room_seqs(received, room) == sorted(room_seqs(received, room))
        for node in nodes:
            assert "Traceback" not in node.log(), node.log()
    finally:
        for reader in readers:
            reader.cancel()
        for node in nodes:
            node.stop_quietly()
