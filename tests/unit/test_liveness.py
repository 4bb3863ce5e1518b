"""The node-wide socket clock: heartbeat pings and token expiry without a timer per socket."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from chatd.fanout.connection import CLOSE_UNAUTHORIZED, Connection
from chatd.models import AccessClaims, User
from chatd.realtime.liveness import SocketClock


class FakeTransport:
    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.aborted = False

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def is_closing(self) -> bool:
        return self.aborted

    def abort(self) -> None:
        self.aborted = True


class FakeWs:
    closed = False

    def __init__(self) -> None:
        self.closes: list[int] = []

    async def close(self, *, code: int, message: bytes) -> None:
        self.closes.append(code)


class FakeRequest:
    def __init__(self) -> None:
        self.transport = FakeTransport()
        self.protocol = None


def connection(expires_at: int) -> tuple[Connection, FakeTransport, FakeWs]:
    ws = FakeWs()
    user = User(id="u1", username="ann", password_hash="x", created_at=0)
    claims = AccessClaims(user_id="u1", jti="j", issued_at=0, expires_at=expires_at)
    conn = Connection(ws, user, claims)  # type: ignore[arg-type]
    request: Any = FakeRequest()
    conn.start(request)
    return conn, request.transport, ws


def sweep_interval(clock: SocketClock, slots: int) -> None:
    """One whole heartbeat interval: every slot visited once."""
    for _ in range(slots):
        clock.sweep_next_slot()


async def test_a_quiet_socket_is_pinged_then_dropped_if_it_stays_silent():
    conn, transport, _ = connection(int(time.time()) + 600)
    clock = SocketClock(slots=1)
    clock.watch(conn)
    clock.sweep_next_slot()  # heard within the last interval: nothing to do
    assert transport.written == [] and not transport.aborted
    clock.sweep_next_slot()  # a whole interval silent: ping
    assert transport.written == [bytes((0x89, 0))]
    clock.sweep_next_slot()  # no pong for another interval: dead
    assert transport.aborted


async def test_a_socket_that_answers_is_kept_and_a_busy_one_is_left_alone():
    conn, transport, _ = connection(int(time.time()) + 600)
    clock = SocketClock(slots=1)
    clock.watch(conn)
    for _ in range(5):
        clock.sweep_next_slot()
        conn.silent_ticks = 0  # the gateway heard a frame (a pong, say)
    conn.silent_ticks = -1  # handling a frame, however long it takes
    for _ in range(5):
        clock.sweep_next_slot()
    assert transport.written == [] and not transport.aborted


async def test_pings_are_spread_over_the_interval_and_each_socket_gets_one_per_interval():
    slots = 10
    sockets = [connection(int(time.time()) + 600) for _ in range(1000)]
    clock = SocketClock(slots=slots)
    for conn, _, _ in sockets:
        clock.watch(conn)
    sweep_interval(clock, slots)  # every socket seen once: silent for one interval
    pinged_per_tick = []
    for _ in range(slots):
        before = sum(len(transport.written) for _, transport, _ in sockets)
        clock.sweep_next_slot()
        pinged_per_tick.append(sum(len(t.written) for _, t, _ in sockets) - before)
    # Exactly one ping each, in ten ticks of about a hundred (not a burst of 1,000).
    assert [len(transport.written) for _, transport, _ in sockets] == [1] * 1000
    assert sum(pinged_per_tick) == 1000 and max(pinged_per_tick) < 200
    assert not any(transport.aborted for _, transport, _ in sockets)


async def test_an_unwatched_socket_is_neither_pinged_nor_dropped():
    conn, transport, _ = connection(int(time.time()) + 600)
    clock = SocketClock(slots=3)
    clock.watch(conn)
    clock.unwatch(conn)
    sweep_interval(clock, 3 * 5)
    assert transport.written == [] and not transport.aborted


async def test_sockets_are_closed_when_their_token_expires_and_reauth_moves_it():
    now = int(time.time())
    first, first_transport, first_ws = connection(now + 1)
    second, _, second_ws = connection(now + 1)
    clock = SocketClock()
    clock.watch(first)
    clock.watch(second)
    # `second` re-authenticates: a later expiry replaces the first one.
    second.claims = AccessClaims(user_id="u1", jti="k", issued_at=now, expires_at=now + 600)
    clock.watch(second)
    await asyncio.sleep(now + 1 - time.time() + 0.2)
    assert first.closing and b"token_expired" in b"".join(first_transport.written)
    await asyncio.sleep(0)
    assert first_ws.closes == [CLOSE_UNAUTHORIZED]
    assert not second.closing and second_ws.closes == []
    clock.unwatch(second)
    await clock.stop()
