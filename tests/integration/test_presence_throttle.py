"""Presence broadcasts are throttled per room: a join storm costs a few frames, not one per join.

Every `presence` frame carries the room's whole online list to every member, so
in a room of N one frame per join would be O(N^2) frames of O(N) bytes. The hub
sends the first change at once and folds the changes that follow within the
room's interval into one trailing frame, which lists everyone.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from chatd.broker import Broker
from chatd.broker.memory import MemoryBroker
from chatd.broker.redis import RedisBroker
from chatd.fanout.hub import Hub
from chatd.fanout.presence import PRESENCE_INTERVAL_SECONDS, PRESENCE_MAX_INTERVAL_SECONDS
from chatd.models import Room, RoomKind, User
from chatd.store.sqlite import SqliteStore
from tests.clock import ManualClock
from tests.sockets import RecordingSocket

ROOM = "lobby"


def member(n: int) -> RecordingSocket:
    return RecordingSocket(id=f"conn-{n}", user=User(f"u{n}", f"user{n:03}", "x", 0))


def presence(socket: RecordingSocket) -> list[list[str]]:
    """The online lists of the presence frames it was sent, each sorted by name."""
    return [sorted(u["username"] for u in f["users"]) for f in socket.of_type("presence")]


@pytest.fixture
def clock() -> ManualClock:
    """The hub's time: tests advance it (the throttle's intervals are seconds)."""
    return ManualClock()


@pytest.fixture(params=["memory", "redis"])
async def hub(request: pytest.FixtureRequest, tmp_path: Path, clock: ManualClock):
    """A hub on each broker: on Redis every presence read is a round trip, and the
    changes that come while one is under way must be folded too."""
    store = await SqliteStore.open(tmp_path / "chatd.db")
    broker: Broker
    if request.param == "redis":
        broker = RedisBroker(request.getfixturevalue("redis_url"), f"throttle{id(store)}:")
    else:
        broker = MemoryBroker()
    await broker.start()
    hub = Hub(
        store=store, broker=broker, node_id="node", prefix="t:", presence_ttl=30, clock=clock
    )
    await store.create_room(Room(ROOM, ROOM, RoomKind.PUBLIC, None, 0))
    yield hub
    await hub.stop()
    await broker.close()
    await store.close()


async def settle(clock: ManualClock) -> None:
    """Longer than any interval a room of this size gets."""
    await clock.advance(PRESENCE_INTERVAL_SECONDS * 3)


async def test_a_join_storm_sends_one_frame_at_once_and_one_trailing_frame(hub, clock):
    first = member(0)
    await hub.join_local(first, ROOM)
    assert presence(first) == [["user000"]], "a lone change goes out at once"

    await settle(clock)
    storm = [member(n) for n in range(1, 60)]
    await asyncio.gather(*(hub.join_local(m, ROOM) for m in storm))
    await settle(clock)

    everyone = sorted(m.user.username for m in [first, *storm])
    assert presence(first)[-1] == everyone
    assert len(presence(first)) <= 3, f"{len(presence(first))} frames for one storm"
    assert presence(storm[-1])[-1] == everyone, "late joiners get the full list too"


async def test_leaves_are_throttled_the_same_way_and_the_last_frame_is_right(hub, clock):
    members = [member(n) for n in range(40)]
    for m in members:
        await hub.join_local(m, ROOM)
    await settle(clock)
    stayer, leavers = members[0], members[1:]
    before = len(presence(stayer))

    await asyncio.gather(*(hub.leave_local(m, ROOM) for m in leavers))
    await settle(clock)

    assert presence(stayer)[-1] == ["user000"]
    assert len(presence(stayer)) - before <= 2


async def test_a_change_after_a_quiet_interval_is_not_delayed(hub, clock):
    a, b = member(1), member(2)
    await hub.join_local(a, ROOM)
    await settle(clock)
    await hub.join_local(b, ROOM)
    assert presence(a)[-1] == ["user001", "user002"], "sent before join_local returned"


async def test_while_changes_keep_coming_the_interval_doubles(hub, clock):
    """A room whose members trickle back (a reconnect storm) gets a few lists, not one
    per member: with a fixed 0.1 s interval these 50 joins over a second were ~10."""
    watcher = member(0)
    await hub.join_local(watcher, ROOM)
    await settle(clock)
    before = len(presence(watcher))

    trickle = [member(n) for n in range(1, 51)]
    for m in trickle:
        await hub.join_local(m, ROOM)
        await clock.advance(0.02)
    # The trickle takes 1 s: frames at 0, 0.1, 0.3, 0.7, 1.5 and
    # 3.1 s at most, and the last one at most one longest interval after it ends.
    await clock.advance(PRESENCE_MAX_INTERVAL_SECONDS + 0.2)

    frames_sent = len(presence(watcher)) - before
    assert frames_sent <= 6, f"{frames_sent} frames for one trickle"
    assert presence(watcher)[-1] == sorted(m.user.username for m in [watcher, *trickle])


async def test_after_a_quiet_interval_the_room_is_back_to_its_short_interval(hub, clock):
    watcher = member(0)
    await hub.join_local(watcher, ROOM)
    for n in range(1, 31):  # long enough a trickle to stretch the interval to 0.8 s
        await hub.join_local(member(n), ROOM)
        await clock.advance(0.02)
    # The trailing frame (at most one longest interval away), then a quiet interval.
    await clock.advance(2 * PRESENCE_MAX_INTERVAL_SECONDS + 0.2)

    await hub.join_local(member(31), ROOM)
    assert "user031" in presence(watcher)[-1], "the first change after quiet goes out at once"
    await hub.join_local(member(32), ROOM)
    await clock.advance(PRESENCE_INTERVAL_SECONDS * 1.5)
    assert "user032" in presence(watcher)[-1], "folded into a frame one base interval later"
