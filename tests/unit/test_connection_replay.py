"""A socket's per-room live start and the live events it holds while a replay runs."""

from __future__ import annotations

from aiohttp import web

from chatd.fanout.connection import SEND_QUEUE_FRAMES, Connection
from chatd.models import AccessClaims, User

ROOM = "lobby"


def connection() -> Connection:
    """A Connection on a socket never opened: frames go nowhere, state is real."""
    user = User(id="u1", username="ann", password_hash="", created_at=0)
    claims = AccessClaims(user_id="u1", jti="j", issued_at=0, expires_at=2**40)
    return Connection(web.WebSocketResponse(), user, claims)


async def test_the_first_live_event_marks_where_the_socket_has_everything_from():
    conn = connection()
    conn.join_room(ROOM, None)
    conn.send_room_event(ROOM, 7, b"{}")
    assert conn.live_from(ROOM) == 7
    conn.send_room_event(ROOM, 8, b"{}")
    assert conn.live_from(ROOM) == 7


async def test_live_events_below_the_live_start_are_not_sent():
    conn = connection()
    conn.join_room(ROOM, 5)
    conn.hold(ROOM)
    conn.send_room_event(ROOM, 4, b"old")  # a replay already sent it
    conn.send_room_event(ROOM, 5, b"new")
    assert conn.release(ROOM) == [(5, b"new")]


async def test_a_socket_holding_a_rooms_worth_of_live_events_is_closed_as_slow():
    conn = connection()
    conn.join_room(ROOM, 1)
    conn.hold(ROOM)
    for seq in range(1, SEND_QUEUE_FRAMES + 1):
        conn.send_room_event(ROOM, seq, b"{}")
    assert not conn.closing
    conn.send_room_event(ROOM, SEND_QUEUE_FRAMES + 1, b"{}")
    assert conn.closing
    assert len(conn.release(ROOM)) == SEND_QUEUE_FRAMES


async def test_leaving_a_room_forgets_its_live_start():
    conn = connection()
    conn.join_room(ROOM, 3)
    conn.leave_room(ROOM)
    conn.set_live_from(ROOM, 9)  # a replay finishing after the leave
    assert ROOM not in conn.rooms
