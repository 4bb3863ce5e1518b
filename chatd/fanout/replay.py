"""Replay a room's logged events to one socket: `resume`, and `hello` with `resume`.

A socket gets a room's events live from the seq the hub was at when it joined
(`Connection.live_from`); the hub sends each room in seq order with no gaps, so
everything from there on reaches the socket live. A replay therefore reads the
store only *below* that seq: it never sends an event the socket had or will
have live, and it never reads ahead of what the hub has delivered (an event
read from the store ahead of the hub would arrive live again a moment later).
Live events that come while the replay runs are held and follow it, so from
the replay on the socket's seqs per room strictly increase.
"""

from __future__ import annotations

from chatd.fanout.connection import Connection
from chatd.store import Store
from chatd.util.jsonutil import dumpb
from chatd.wire import frames

#: Events read per store query while replaying.
REPLAY_PAGE = 500


async def replay_room(conn: Connection, store: Store, room_id: str, after: int) -> int:
    """Send the room's events after `after` the socket has not been sent, then the
    live ones held meanwhile; return the seq it now has every event up to.

    The caller may have held the room already (hello holds it from the join on).
    """
    conn.hold(room_id)
    conn.events.resumed()
    try:
        replayed = await _send_logged(conn, store, room_id, after)
    finally:
        held = conn.release(room_id)
    last = replayed
    for seq, data in held:
        if seq > last:
            conn.send_raw(data)
            last = seq
    live_from = conn.live_from(room_id)
    if live_from is None or replayed >= live_from:
        # Live events up to `last` must not reach it (again): the store was read
        # without knowing where the hub stands (the room was starting here, or
        # its start failed), or the client had events this node has not
        # delivered yet (the node it came from stored them and died before
        # publishing: here they come out of the store once a later event shows
        # the gap).
        conn.set_live_from(room_id, last + 1)
    else:
        conn.set_live_from(room_id, after + 1)  # replayed from there to the live start
    return last


async def _send_logged(conn: Connection, store: Store, room_id: str, after: int) -> int:
    """Send logged events after `after` and below the socket's live start; return the last."""
    last = after
    while True:
        live_from = conn.live_from(room_id)
        limit = REPLAY_PAGE if live_from is None else min(REPLAY_PAGE, live_from - 1 - last)
        if limit <= 0:
            return last
        batch = await store.events_after(room_id, last, limit)
        for ev in batch:
            if conn.closing:
                return last  # e.g. closed as a slow consumer: it reconnects and resumes
            # Re-read each time: a room still starting here learns its start meanwhile.
            live_from = conn.live_from(room_id)
            if live_from is not None and ev.seq >= live_from:
                return last
            replayed = frames.event(ev)
            if replayed is not None:  # None: a message deleted since
                await conn.send_waiting(dumpb(replayed))
                conn.events.replayed_events.inc()
            last = ev.seq
        if len(batch) < limit:
            return last
