"""The Broker contract, run against every adapter (in-process and real Redis).

Each test uses fresh channel/room/key names (and, on Redis, its own key prefix),
so tests share one redis-server without seeing each other.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from redis.asyncio import Redis

from chatd.broker.base import (
    Broker,
    BrokerUnavailable,
    PresenceEntry,
    Roster,
    room_channel,
    room_users_key,
)
from chatd.broker.memory import MemoryBroker
from chatd.broker.redis import RedisBroker
from tests.fixtures.redis import RedisServer

#: How long a test waits for a delivery that should come; never reached when green.
WAIT = 5.0

Node = Broker
MakeNode = Callable[[], Awaitable[Broker]]


def uid() -> str:
    return uuid.uuid4().hex[:10]


def text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class Inbox:
    """A listener that records what it receives and lets a test wait for it."""

    def __init__(self) -> None:
        self.items: list[tuple[str, bytes]] = []
        self._changed = asyncio.Event()

    async def __call__(self, channel: str, data: bytes) -> None:
        self.items.append((channel, data))
        self._changed.set()

    async def wait_for(self, count: int) -> list[tuple[str, bytes]]:
        async with asyncio.timeout(WAIT):
            while len(self.items) < count:
                self._changed.clear()
                await self._changed.wait()
        return self.items

    async def wait_for_data(self, data: bytes) -> None:
        async with asyncio.timeout(WAIT):
            while data not in [d for _c, d in self.items]:
                self._changed.clear()
                await self._changed.wait()


async def started(broker: Broker) -> Broker:
    assert isinstance(broker, MemoryBroker | RedisBroker)
    await broker.start()
    return broker


async def closed(broker: Broker) -> None:
    assert isinstance(broker, MemoryBroker | RedisBroker)
    await broker.close()


@pytest.fixture(params=["memory", "redis"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def prefix() -> str:
    """The key prefix of this test's deployment (CHATD_REDIS_PREFIX)."""
    return f"test:{uid()}:"


@pytest.fixture
async def make_node(
    backend: str, prefix: str, request: pytest.FixtureRequest
) -> AsyncIterator[MakeNode]:
    """Creates broker nodes. On Redis every node shares the server and prefix,
    like the nodes of one deployment; in memory there is one process, so one node."""
    nodes: list[Broker] = []
    url = request.getfixturevalue("redis_url") if backend == "redis" else ""

    async def make() -> Broker:
        if backend == "memory":
            if nodes:
                return nodes[0]
            broker: Broker = MemoryBroker()
        else:
            broker = RedisBroker(url, prefix)
        nodes.append(await started(broker))
        return broker

    yield make
    for node in nodes:
        await closed(node)


@pytest.fixture
async def broker(make_node: MakeNode) -> Broker:
    return await make_node()


@pytest.fixture
async def users_set(
    backend: str, prefix: str, request: pytest.FixtureRequest
) -> AsyncIterator[Callable[[str], Awaitable[set[str] | None]]]:
    """Reads the contract's `<prefix>room:<room>:users` set on Redis (None in memory)."""
    client = Redis.from_url(request.getfixturevalue("redis_url")) if backend == "redis" else None

    async def read(room: str) -> set[str] | None:
        if client is None:
            return None
        return {text(m) for m in await client.smembers(room_users_key(prefix, room))}

    yield read
    if client is not None:
        await client.aclose()


# -- pub/sub -------------------------------------------------------------------
async def test_publish_reaches_subscribed_listener_in_order(broker: Broker) -> None:
    inbox = Inbox()
    broker.set_listener(inbox)
    channel = room_channel("test:", uid())
    await broker.subscribe(channel)
    sent = [f"m{i}".encode() for i in range(50)]
    for data in sent:
        await broker.publish(channel, data)
    received = await inbox.wait_for(len(sent))
    assert received == [(channel, d) for d in sent]


async def test_unsubscribed_channels_are_not_delivered(broker: Broker) -> None:
    inbox = Inbox()
    broker.set_listener(inbox)
    wanted, other = room_channel("test:", uid()), room_channel("test:", uid())
    await broker.subscribe(wanted)
    await broker.publish(other, b"not for us")
    await broker.publish(wanted, b"first")
    # Published after `other` from the same node, so had `other` been delivered
    # it would have arrived before this.
    assert await inbox.wait_for(1) == [(wanted, b"first")]

    await broker.unsubscribe(wanted)
    await broker.unsubscribe(wanted)  # unsubscribing twice is harmless
    await broker.subscribe(other)
    await broker.publish(wanted, b"after unsubscribe")
    await broker.publish(other, b"second")
    await inbox.wait_for(2)
    assert inbox.items == [(wanted, b"first"), (other, b"second")]


async def test_subscribe_is_idempotent(broker: Broker) -> None:
    inbox = Inbox()
    broker.set_listener(inbox)
    channel, marker = room_channel("test:", uid()), room_channel("test:", uid())
    await broker.subscribe(channel)
    await broker.subscribe(channel)
    await broker.subscribe(marker)
    await broker.publish(channel, b"once")
    await broker.publish(marker, b"done")
    await inbox.wait_for_data(b"done")
    assert inbox.items == [(channel, b"once"), (marker, b"done")]


async def test_every_subscribed_node_receives_including_the_publisher(
    make_node: MakeNode, backend: str
) -> None:
    node_a = await make_node()
    node_b = await make_node()
    nodes = [node_a] if backend == "memory" else [node_a, node_b]
    assert len({id(n) for n in nodes}) == len(nodes)
    inboxes = [Inbox() for _ in nodes]
    channel = room_channel("test:", uid())
    for node, inbox in zip(nodes, inboxes, strict=True):
        node.set_listener(inbox)
        await node.subscribe(channel)

    await node_a.publish(channel, b"from a")
    await node_b.publish(channel, b"from b")
    for inbox in inboxes:
        assert await inbox.wait_for(2) == [(channel, b"from a"), (channel, b"from b")]


# Only Redis has separate nodes (in process, one broker is one node).
@pytest.mark.parametrize("backend", ["redis"], indirect=True)
async def test_a_node_only_receives_its_own_rooms(make_node: MakeNode) -> None:
    node_a, node_b = await make_node(), await make_node()
    inbox_a, inbox_b = Inbox(), Inbox()
    node_a.set_listener(inbox_a)
    node_b.set_listener(inbox_b)
    room_a, room_b = room_channel("test:", uid()), room_channel("test:", uid())
    await node_a.subscribe(room_a)
    await node_b.subscribe(room_b)
    await node_a.publish(room_a, b"a1")
    await node_a.publish(room_b, b"b1")
    assert await inbox_a.wait_for(1) == [(room_a, b"a1")]
    assert await inbox_b.wait_for(1) == [(room_b, b"b1")]
    await node_b.publish(room_b, b"b2")
    await inbox_b.wait_for(2)
    assert inbox_a.items == [(room_a, b"a1")]


async def test_a_storm_of_subscribes_and_unsubscribes_leaves_exactly_the_wanted_channels(
    make_node: MakeNode,
) -> None:
    # A reconnect storm: thousands of sockets join their rooms at once.
    listener, publisher = await make_node(), await make_node()
    inbox = Inbox()
    listener.set_listener(inbox)
    first = [room_channel("test:", uid()) for _ in range(600)]
    await asyncio.gather(*(listener.subscribe(channel) for channel in first))
    # Every subscribe returned, so every subscription is in effect.
    for channel in first:
        await publisher.publish(channel, b"one")
    await inbox.wait_for(len(first))
    assert sorted(inbox.items) == sorted((channel, b"one") for channel in first)

    dropped = first[::3]
    added = [room_channel("test:", uid()) for _ in range(200)]
    churn = [listener.unsubscribe(channel) for channel in dropped]
    churn += [listener.subscribe(channel) for channel in added]
    churn += [listener.unsubscribe(channel) for channel in added[:50]]  # right after
    await asyncio.gather(*churn)
    inbox.items.clear()
    for channel in first + added:
        await publisher.publish(channel, b"two")
    marker = added[-1]  # published last, so everything before it has arrived
    await publisher.publish(marker, b"marker")
    await inbox.wait_for_data(b"marker")
    wanted = [c for c in first if c not in dropped] + added[50:]
    assert sorted(inbox.items) == sorted([(c, b"two") for c in wanted] + [(marker, b"marker")])


async def test_listener_errors_are_logged_and_delivery_goes_on(
    broker: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    inbox = Inbox()

    async def flaky(channel: str, data: bytes) -> None:
        if data == b"boom":
            raise RuntimeError("listener bug")
        await inbox(channel, data)

    broker.set_listener(flaky)
    channel = room_channel("test:", uid())
    await broker.subscribe(channel)
    await broker.publish(channel, b"boom")
    await broker.publish(channel, b"after")
    assert await inbox.wait_for(1) == [(channel, b"after")]
    assert "listener bug" in caplog.text


async def test_publish_does_not_wait_for_the_listener(broker: Broker) -> None:
    release = asyncio.Event()
    inbox = Inbox()

    async def slow(channel: str, data: bytes) -> None:
        await release.wait()
        await inbox(channel, data)

    broker.set_listener(slow)
    channel = room_channel("test:", uid())
    await broker.subscribe(channel)
    async with asyncio.timeout(2):
        for i in range(3):
            await broker.publish(channel, str(i).encode())
    release.set()
    assert [d for _c, d in await inbox.wait_for(3)] == [b"0", b"1", b"2"]


# -- presence ------------------------------------------------------------------
async def test_presence_with_two_connections_of_one_user(
    make_node: MakeNode, users_set: Callable[[str], Awaitable[set[str] | None]], backend: str
) -> None:
    node_a, node_b = await make_node(), await make_node()
    room = uid()
    tab1 = PresenceEntry("u1", "alice", "c1")
    tab2 = PresenceEntry("u1", "alice", "c2")
    bob = PresenceEntry("u2", "bob", "c3")
    assert await node_a.presence_list(room) == []

    await node_a.presence_add(room, tab1, 30)
    await node_b.presence_add(room, tab2, 30)  # the second tab landed on another node
    await node_a.presence_add(room, bob, 30)
    await node_a.presence_add(room, bob, 30)  # adding again is harmless
    expected = [("u1", "alice"), ("u2", "bob")]
    assert await node_a.presence_list(room) == expected
    assert await node_b.presence_list(room) == expected
    assert await users_set(room) in ({"u1", "u2"}, None)

    await node_a.presence_remove(room, tab1)
    assert await node_b.presence_list(room) == expected  # still online in tab 2
    await node_b.presence_remove(room, tab2)
    await node_b.presence_remove(room, tab2)  # removing twice is harmless
    assert await node_a.presence_list(room) == [("u2", "bob")]
    assert await users_set(room) in ({"u2"}, None)

    await node_a.presence_remove(room, bob)
    assert await node_a.presence_list(room) == []
    assert await users_set(room) in (set(), None)


async def test_presence_is_per_room(broker: Broker) -> None:
    room1, room2 = uid(), uid()
    await broker.presence_add(room1, PresenceEntry("u1", "alice", "c1"), 30)
    await broker.presence_refresh([room2], PresenceEntry("u2", "bob", "c2"), 30)
    assert await broker.presence_list(room1) == [("u1", "alice")]
    assert await broker.presence_list(room2) == [("u2", "bob")]


async def test_presence_expires_unless_refreshed(
    broker: Broker, users_set: Callable[[str], Awaitable[set[str] | None]]
) -> None:
    room = uid()
    await broker.presence_add(room, PresenceEntry("u1", "alice", "c1"), 0.3)
    await broker.presence_add(room, PresenceEntry("u2", "bob", "c2"), 30)
    assert await users_set(room) in ({"u1", "u2"}, None)
    await asyncio.sleep(0.45)
    assert await broker.presence_list(room) == [("u2", "bob")]
    assert await users_set(room) in ({"u2"}, None)


async def test_refresh_keeps_entries_alive_in_every_room(broker: Broker) -> None:
    rooms = [uid(), uid()]
    entry = PresenceEntry("u1", "alice", "c1")
    for room in rooms:
        await broker.presence_add(room, entry, 0.3)
    for _ in range(2):
        await asyncio.sleep(0.2)
        await broker.presence_refresh(rooms, entry, 0.3)
    # 0.4 s after the add: alive only thanks to the refreshes.
    for room in rooms:
        assert await broker.presence_list(room) == [("u1", "alice")]
    await asyncio.sleep(0.45)
    for room in rooms:
        assert await broker.presence_list(room) == []


async def test_a_node_refreshes_and_lists_thousands_of_entries_at_once(broker: Broker) -> None:
    # A heartbeat's size: more entries and rooms than one Redis call takes
    # (PRESENCE_BATCH, PRESENCE_LIST_BATCH), so rooms span several calls.
    rooms = [uid() for _ in range(150)]
    entries = [
        (room, PresenceEntry(f"u{n}", f"user{n}", f"c{n}"))
        for n, room in enumerate(rooms[i % 3] for i in range(1_200))
    ]
    entries += [(room, PresenceEntry("u-last", "last", "c-last")) for room in rooms]
    await broker.presence_refresh_many(entries, 0.3)
    await broker.presence_refresh_many([], 0.3)  # nothing to do is fine

    online = await broker.presence_lists(rooms)
    assert list(online) == rooms
    for i, room in enumerate(rooms):
        expected = sorted(
            [(e.user_id, e.username) for r, e in entries if r == room and e.user_id != "u-last"]
            + [("u-last", "last")]
        )
        assert online[room] == expected, f"room {i}"
    assert len(online[rooms[0]]) == 401

    # The refresh is an upsert with a fresh expiry for every entry it names.
    await asyncio.sleep(0.2)
    await broker.presence_refresh_many(entries[:600], 0.3)
    await asyncio.sleep(0.2)
    online = await broker.presence_lists(rooms[:3])
    assert [len(online[room]) for room in rooms[:3]] == [200, 200, 200]
    assert await broker.presence_lists([]) == {}


# -- counters ------------------------------------------------------------------
# -- rosters --------------------------------------------------------------------
async def test_roster_put_get_remove_with_growing_revisions(broker: Broker) -> None:
    key = f"call:{uid()}"
    assert await broker.roster_get(key) == Roster(0, {})
    rev1 = await broker.roster_put(key, "c1", b"alice", 30)
    rev2 = await broker.roster_put(key, "c2", b"bob", 30)
    assert rev1 is not None and rev2 is not None and rev2 > rev1
    roster = await broker.roster_get(key)
    assert roster.members == {"c1": b"alice", "c2": b"bob"} and roster.rev == rev2

    # The same value again only moves the expiry: no change, same revision.
    assert await broker.roster_put(key, "c1", b"alice", 30) == rev2
    rev3 = await broker.roster_put(key, "c1", b"alice muted", 30)
    assert rev3 is not None and rev3 > rev2
    assert (await broker.roster_get(key)).members["c1"] == b"alice muted"

    rev4 = await broker.roster_remove(key, "c1")
    assert rev4 is not None and rev4 > rev3
    assert await broker.roster_remove(key, "c1") is None
    rev5 = await broker.roster_remove(key, "c2")
    assert rev5 is not None
    emptied = await broker.roster_get(key)
    assert emptied.members == {} and emptied.rev == rev5
    # A roster that comes back after emptying keeps counting up.
    rev6 = await broker.roster_put(key, "c3", b"carol", 30)
    assert rev6 is not None and rev6 > rev5


async def test_roster_limit_refuses_new_members_only(broker: Broker) -> None:
    key = f"call:{uid()}"
    for i in range(3):
        assert await broker.roster_put(key, f"c{i}", b"x", 30, limit=3) is not None
    assert await broker.roster_put(key, "c9", b"x", 30, limit=3) is None
    assert await broker.roster_put(key, "c0", b"changed", 30, limit=3) is not None
    assert set((await broker.roster_get(key)).members) == {"c0", "c1", "c2"}
    await broker.roster_remove(key, "c1")
    assert await broker.roster_put(key, "c9", b"x", 30, limit=3) is not None


async def test_roster_limit_is_atomic_across_nodes(make_node: MakeNode) -> None:
    nodes = [await make_node() for _ in range(2)]
    key = f"call:{uid()}"
    results = await asyncio.gather(
        *(nodes[i % 2].roster_put(key, f"c{i}", b"x", 30, limit=6) for i in range(12))
    )
    assert sum(r is not None for r in results) == 6
    assert len((await nodes[1].roster_get(key)).members) == 6


async def test_roster_members_expire_and_prune_reports_it_once(make_node: MakeNode) -> None:
    first, second = await make_node(), await make_node()
    key, other = f"call:{uid()}", f"call:{uid()}"
    await first.roster_put(key, "ghost", b"crashed node", 0.3)
    await first.roster_put(key, "alive", b"x", 30)
    await first.roster_put(other, "alive", b"x", 30)
    before = (await second.roster_get(key)).rev
    await asyncio.sleep(0.45)
    # Exactly one pruner learns of the expiry; the others see nothing to do.
    assert await second.roster_prune([other, key]) == [key]
    assert await first.roster_prune([other, key]) == []
    roster = await first.roster_get(key)
    assert roster.members == {"alive": b"x"} and roster.rev > before
    # Before anyone prunes, expired members are neither listed nor counted.
    await first.roster_put(key, "ghost2", b"y", 0.2)
    await asyncio.sleep(0.3)
    assert set((await second.roster_get(key)).members) == {"alive"}
    assert await second.roster_put(key, "late", b"z", 30, limit=2) is not None
    assert await first.roster_prune([key]) == [key]


async def test_roster_put_many_upserts_and_keeps_members_alive(make_node: MakeNode) -> None:
    first, second = await make_node(), await make_node()
    key, other = f"sockets:{uid()}", f"sockets:{uid()}"
    before = (await second.roster_get(key)).rev
    entries = [(key, "s1", b"a"), (key, "s2", b"b"), (other, "s1", b"c")]
    await first.roster_put_many(entries, 0.4)
    roster = await second.roster_get(key)
    assert roster.members == {"s1": b"a", "s2": b"b"} and roster.rev > before
    assert (await second.roster_get(other)).members == {"s1": b"c"}
    # Refreshing with the same values moves only the expiry (same revision) and
    # counts for the limit exactly like roster_put.
    await asyncio.sleep(0.25)
    await first.roster_put_many(entries[:2], 0.4)
    assert (await second.roster_get(key)).rev == roster.rev
    await asyncio.sleep(0.25)
    assert set((await second.roster_get(key)).members) == {"s1", "s2"}
    assert (await second.roster_get(other)).members == {}
    assert await second.roster_put(key, "s3", b"x", 30, limit=2) is None
    await first.roster_put_many([], 30)  # nothing to do is fine


async def test_roster_put_many_spans_several_batches(broker: Broker) -> None:
    key = f"sockets:{uid()}"
    await broker.roster_put_many([(key, f"s{i}", b"x") for i in range(1203)], 30)
    assert len((await broker.roster_get(key)).members) == 1203


async def test_redis_roster_keys_live_under_the_prefix(redis_url: str) -> None:
    prefix = f"test:{uid()}:"
    broker = await started(RedisBroker(redis_url, prefix))
    client = Redis.from_url(redis_url)
    try:
        await broker.roster_put("call:r1", "c1", b"v", 30)
        keys = sorted(text(k) for k in await client.keys(f"{prefix}*"))
        assert keys == [f"{prefix}roster:call:r1", f"{prefix}roster:call:r1:exp"]
        assert 0 < await client.pttl(f"{prefix}roster:call:r1") <= 30_000
    finally:
        await client.aclose()
        await closed(broker)


async def test_counters_count_expire_and_delete(broker: Broker) -> None:
    key, other = f"login:{uid()}", f"login:{uid()}"
    assert await broker.get_counter(key) == (0, 0.0)
    assert [await broker.incr(key, 10) for _ in range(3)] == [1, 2, 3]
    value, ttl = await broker.get_counter(key)
    assert value == 3
    assert 9 < ttl <= 10  # later increments did not extend the life
    assert await broker.get_counter(other) == (0, 0.0)

    await broker.delete(key)
    await broker.delete(key)  # deleting a missing counter is fine
    assert await broker.get_counter(key) == (0, 0.0)

    assert await broker.incr(other, 0.2) == 1
    await asyncio.sleep(0.3)
    assert await broker.get_counter(other) == (0, 0.0)
    assert await broker.incr(other, 0.2) == 1  # a new life starts


async def test_decr_gives_back_to_live_counters_only(broker: Broker) -> None:
    key, gone = f"login:{uid()}", f"login:{uid()}"
    await broker.incr(key, 10)
    await broker.incr(key, 10)
    await broker.decr(key)
    value, ttl = await broker.get_counter(key)
    assert value == 1 and 9 < ttl <= 10  # its life is unchanged
    await broker.decr(key)
    await broker.decr(key)  # never below 0
    assert (await broker.get_counter(key))[0] == 0
    assert await broker.incr(key, 10) == 1

    await broker.decr(gone)  # an absent counter stays absent
    assert await broker.get_counter(gone) == (0, 0.0)
    await broker.incr(gone, 0.2)
    await asyncio.sleep(0.3)
    await broker.decr(gone)  # nor does an expired one come back
    assert await broker.get_counter(gone) == (0, 0.0)
    assert await broker.incr(gone, 10) == 1


async def test_increments_are_atomic_across_nodes(make_node: MakeNode) -> None:
    nodes = [await make_node() for _ in range(2)]
    key = f"login:{uid()}"
    values = await asyncio.gather(*(nodes[i % 2].incr(key, 10) for i in range(40)))
    assert sorted(values) == list(range(1, 41))


async def test_counters_are_shared_between_nodes(make_node: MakeNode) -> None:
    node_a, node_b = await make_node(), await make_node()
    key = f"rate:{uid()}"
    await node_a.incr(key, 10)
    await node_b.incr(key, 10)
    assert (await node_a.get_counter(key))[0] == 2


async def test_check_passes_when_up(broker: Broker) -> None:
    await broker.check()


# -- Redis only: keys, outages and recovery --------------------------------------
async def test_redis_keys_follow_the_contract_and_the_prefix(redis_url: str) -> None:
    prefix = f"test:{uid()}:"
    broker = RedisBroker(redis_url, prefix)
    await broker.start()
    client = Redis.from_url(redis_url)
    try:
        room = uid()
        await broker.presence_add(room, PresenceEntry("u1", "alice", "c1"), 30)
        await broker.incr("k", 30)
        keys = {text(k) for k in await client.keys(f"*{room}*")}
        keys |= {text(k) for k in await client.keys(f"{prefix}*")}
        # Every key, the contract's online set included, lives under the prefix.
        assert keys == {
            f"{prefix}room:{room}:users",
            f"{prefix}room:{room}:conns",
            f"{prefix}counter:k",
        }
        assert await client.type(room_users_key(prefix, room)) == b"set"
        # Every key has a TTL, so nothing is left behind if every node dies.
        for key in keys:
            assert await client.pttl(key) > 0
    finally:
        await client.aclose()
        await broker.close()


async def test_redis_crashed_node_leaves_no_ghosts(redis_url: str) -> None:
    prefix = f"test:{uid()}:"
    crashed, survivor = RedisBroker(redis_url, prefix), RedisBroker(redis_url, prefix)
    client = Redis.from_url(redis_url)
    room = uid()
    try:
        await crashed.presence_add(room, PresenceEntry("u1", "alice", "c1"), 0.3)
        await survivor.presence_add(room, PresenceEntry("u2", "bob", "c2"), 30)
        await crashed.close()  # no presence_remove: the node died
        await asyncio.sleep(0.45)
        assert await survivor.presence_list(room) == [("u2", "bob")]
        assert await client.smembers(room_users_key(prefix, room)) == {b"u2"}
    finally:
        await client.aclose()
        await survivor.close()


async def test_redis_unreachable_at_start_does_not_block_or_raise() -> None:
    broker = RedisBroker("redis://127.0.0.1:1", "test:", socket_timeout=1)
    began = time.monotonic()
    await broker.start()
    await broker.subscribe(room_channel("test:", "general"))  # remembered for later
    assert time.monotonic() - began < 0.5
    with pytest.raises(BrokerUnavailable) as info:
        await broker.check()
    assert str(info.value) == "redis at 127.0.0.1:1: connection refused"
    with pytest.raises(BrokerUnavailable):
        await broker.publish(room_channel("test:", "general"), b"x")
    with pytest.raises(BrokerUnavailable):
        await broker.presence_list("general")
    assert not broker.connected
    await broker.close()


async def test_redis_that_accepts_but_never_answers_fails_commands_within_the_timeout() -> None:
    # A frozen server or a black-holed network: TCP connects, nothing comes back.
    accepted: list[asyncio.StreamWriter] = []

    async def silent(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    broker = RedisBroker(f"redis://127.0.0.1:{port}", "test:", socket_timeout=0.5)
    await broker.start()
    try:
        for command in (broker.check(), broker.publish("c", b"x"), broker.get_counter("k")):
            began = time.monotonic()
            with pytest.raises(BrokerUnavailable, match=r"no answer within 1 s"):
                async with asyncio.timeout(WAIT):  # a hang fails, as TimeoutError
                    await command
            assert time.monotonic() - began < 1.5
        assert accepted  # it did connect: the silence is what failed
    finally:
        await broker.close()
        for writer in accepted:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_redis_outage_then_recovery(restartable_redis: RedisServer) -> None:
    reconnected = asyncio.Event()

    async def on_reconnect() -> None:
        reconnected.set()

    broker = RedisBroker(
        restartable_redis.url,
        f"test:{uid()}:",
        on_reconnect=on_reconnect,
        socket_timeout=1,
        backoff_max=0.3,
    )
    inbox = Inbox()
    broker.set_listener(inbox)
    await broker.start()
    try:
        channels = [room_channel("test:", uid()), room_channel("test:", uid())]
        for channel in channels:
            await broker.subscribe(channel)
        await broker.publish(channels[0], b"before")
        await inbox.wait_for(1)
        assert not reconnected.is_set()  # nothing to resume on the first connection

        restartable_redis.stop()
        began = time.monotonic()
        with pytest.raises(BrokerUnavailable, match=r"127\.0\.0\.1:\d+: connection refused"):
            await broker.check()
        with pytest.raises(BrokerUnavailable):
            await broker.publish(channels[0], b"lost")
        assert time.monotonic() - began < 1.5

        restartable_redis.start()
        async with asyncio.timeout(WAIT):
            await reconnected.wait()
        await broker.check()
        for channel in channels:  # every channel was resubscribed
            await broker.publish(channel, b"after")
        assert await inbox.wait_for(3) == [
            (channels[0], b"before"),
            (channels[0], b"after"),
            (channels[1], b"after"),
        ]
    finally:
        await broker.close()


async def test_redis_down_at_start_then_up(restartable_redis: RedisServer) -> None:
    restartable_redis.stop()
    reconnected = asyncio.Event()

    async def on_reconnect() -> None:
        reconnected.set()

    broker = RedisBroker(
        restartable_redis.url,
        f"test:{uid()}:",
        on_reconnect=on_reconnect,
        socket_timeout=1,
        backoff_max=0.3,
    )
    inbox = Inbox()
    broker.set_listener(inbox)
    async with asyncio.timeout(0.5):
        await broker.start()
        channel = room_channel("test:", uid())
        await broker.subscribe(channel)
    try:
        await asyncio.sleep(0.3)  # let the subscriber fail a few times
        restartable_redis.start()
        async with asyncio.timeout(WAIT):
            await reconnected.wait()  # channels joined while down were subscribed
        await broker.publish(channel, b"hello")
        assert await inbox.wait_for(1) == [(channel, b"hello")]
    finally:
        await broker.close()


async def test_redis_on_reconnect_failure_does_not_stop_delivery(
    restartable_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    called = asyncio.Event()

    async def on_reconnect() -> None:
        called.set()
        raise RuntimeError("hook bug")

    broker = RedisBroker(
        restartable_redis.url, f"test:{uid()}:", on_reconnect=on_reconnect, backoff_max=0.3
    )
    inbox = Inbox()
    broker.set_listener(inbox)
    await broker.start()
    try:
        channel = room_channel("test:", uid())
        await broker.subscribe(channel)
        restartable_redis.stop()
        restartable_redis.start()
        async with asyncio.timeout(WAIT):
            await called.wait()
        await broker.publish(channel, b"still works")
        assert await inbox.wait_for(1) == [(channel, b"still works")]
        assert "hook bug" in caplog.text
    finally:
        await broker.close()
