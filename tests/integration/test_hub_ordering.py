"""The hub delivers a room's events in seq order, exactly once, whatever order nodes publish in.

Two hubs on two RedisBrokers are two nodes. Node B publishes events out of order
(as two nodes racing do); node A's sockets must still see 1, 2, 3, ... once each.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from chatd.broker.memory import MemoryBroker
from chatd.broker.redis import RedisBroker
from chatd.fanout.hub import Hub
from chatd.fanout.ordering import GAP_WAIT_SECONDS
from chatd.models import Message, NewMessage, Room, RoomKind, User
from chatd.store.sqlite import SqliteStore
from chatd.wire import frames
from tests.clock import ManualClock
from tests.sockets import RecordingSocket


@pytest.fixture
def clock() -> ManualClock:
    """The nodes' time: a test that waits on the hub's timings advances it."""
    return ManualClock()


@pytest.fixture
async def two_nodes(tmp_path: Path, redis_url: str, clock: ManualClock):
    store = await SqliteStore.open(tmp_path / "chatd.db")
    brokers = [RedisBroker(redis_url, "ordering:") for _ in range(2)]
    for broker in brokers:
        await broker.start()
    hubs = [
        Hub(
            store=store,
            broker=b,
            node_id=f"node-{i}",
            prefix="ordering:",
            presence_ttl=30,
            clock=clock,
        )
        for i, b in enumerate(brokers)
    ]
    room = Room("ordered", "ordered", RoomKind.PUBLIC, None, 0)
    await store.create_room(room)
    recorder = RecordingSocket(User("u1", "alice", "x", 0), id="conn-a")
    await hubs[0].join_local(recorder, room.id, announce=False)  # type: ignore[arg-type]
    yield store, hubs[1], recorder, hubs[0]
    for hub in hubs:
        await hub.stop()
    for broker in brokers:
        await broker.close()
    await store.close()


async def stored(store: SqliteStore, text: str) -> Message:
    message, _ = await store.append_message(NewMessage("ordered", "u1", "alice", text))
    return message


async def until(condition, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.01)


async def test_an_event_that_overtakes_another_waits_for_it(two_nodes):
    store, node_b, recorder, _ = two_nodes
    first, second, third = [await stored(store, t) for t in ("1", "2", "3")]
    await node_b.publish_event("ordered", 1, frames.message(first))
    await until(lambda: recorder.room_events == [1])
    # 3 is published before 2: node A reads 2 from the store, then delivers 3.
    await node_b.publish_event("ordered", 3, frames.message(third))
    await node_b.publish_event("ordered", 2, frames.message(second))
    await until(lambda: len(recorder.room_events) >= 3)
    await asyncio.sleep(0.2)
    assert recorder.room_events == [1, 2, 3]


async def test_a_seq_that_is_never_stored_is_skipped_after_the_wait(two_nodes, clock, caplog):
    store, node_b, recorder, _ = two_nodes
    first = await stored(store, "1")
    await node_b.publish_event("ordered", 1, frames.message(first))
    await until(lambda: recorder.room_events == [1])
    # Seq 2 was allocated by a node that crashed before storing it (MongoDB's
    # $inc-then-insert); seq 3 must not wait for it forever.
    ghost = Message("late", "ordered", 3, "u1", "alice", "3", 0)
    caplog.set_level(logging.WARNING, "chatd.fanout.ordering")
    await node_b.publish_event("ordered", 3, frames.message(ghost))
    await until(lambda: clock.sleeping)  # node A holds 3 and waits for 2
    await clock.advance(GAP_WAIT_SECONDS / 2)
    assert recorder.room_events == [1], "held while the missing seq may still arrive"
    await clock.advance(GAP_WAIT_SECONDS)
    await until(lambda: recorder.room_events == [1, 3])
    assert any("seq 2 never arrived" in r.getMessage() for r in caplog.records)


async def test_a_nodes_own_event_does_not_make_it_drop_an_earlier_remote_one(two_nodes):
    store, node_b, recorder, node_a = two_nodes
    first, second = [await stored(store, t) for t in ("1", "2")]
    # Node A's own seq 2 is delivered locally before node B's seq 1 crosses
    # Redis: A must read 1 from the store first, not start the room at 2.
    await node_a.publish_event("ordered", 2, frames.message(second))
    await node_b.publish_event("ordered", 1, frames.message(first))
    await until(lambda: len(recorder.room_events) >= 2)
    await asyncio.sleep(0.2)
    assert recorder.room_events == [1, 2]


class GatedLastSeq:
    """The real store, but `last_seq` waits at a gate: a store slow to answer (a storm)."""

    def __init__(self, store: SqliteStore) -> None:
        self._store = store
        self.gate = asyncio.Event()
        self.waiting = asyncio.Event()

    def __getattr__(self, name: str):
        return getattr(self._store, name)

    async def last_seq(self, room_id: str) -> int:
        self.waiting.set()
        await self.gate.wait()
        return await self._store.last_seq(room_id)


async def test_an_event_sent_while_the_room_starts_on_this_node_is_delivered(tmp_path):
    """A reconnect storm: the room's first socket here is still starting the room
    (its last-seq read is slow) when a second socket, already joined, sends a
    message. The read then counts that message; it must still be delivered."""
    store = await SqliteStore.open(tmp_path / "chatd.db")
    gated = GatedLastSeq(store)
    broker = MemoryBroker()
    await broker.start()
    hub = Hub(store=gated, broker=broker, node_id="n", prefix="g:", presence_ttl=30)  # type: ignore[arg-type]
    await store.create_room(Room("ordered", "ordered", RoomKind.PUBLIC, None, 0))
    alice = User("u1", "alice", "x", 0)
    first_socket = RecordingSocket(alice, id="c1")
    second_socket = RecordingSocket(alice, id="c2")
    try:
        starting = asyncio.create_task(hub.join_local(first_socket, "ordered", announce=False))  # type: ignore[arg-type]
        await gated.waiting.wait()
        await hub.join_local(second_socket, "ordered", announce=False)  # type: ignore[arg-type]
        message = await stored(store, "sent during the start")
        publishing = asyncio.create_task(
            hub.publish_event("ordered", message.seq, frames.message(message))
        )
        await asyncio.sleep(0.05)
        gated.gate.set()  # the read now sees the message already stored
        await asyncio.gather(starting, publishing)
        await until(lambda: first_socket.room_events and second_socket.room_events)
        await asyncio.sleep(0.1)
        assert first_socket.room_events == [1]
        assert second_socket.room_events == [1]
    finally:
        await hub.stop()
        await broker.close()
        await store.close()
