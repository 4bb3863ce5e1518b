"""DM call ringing: `call-ring` to the other members, and how the ring ends.

The first participant of a DM call rings every other member of the DM, on
every socket they have (`Hub.publish_user`). The ring ends, for every member's
sockets, with `call-ring-end` and a reason:

- `answered`: another member joined the call (sent by the node that joined them);
- `declined`: a member sent `call-decline` (sent by their node);
- `missed`: nobody answered within `ring_seconds`, or the caller hung up first.

The caller's node owns the timer. Members may answer or decline on other nodes,
so when it fires it reads the shared state (the call roster, a decline counter
in the broker) rather than anything it kept itself.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass, field

from chatd.broker import Broker
from chatd.fanout.hub import Hub
from chatd.fanout.user_events import UserFrame
from chatd.wire import frames

logger = logging.getLogger(__name__)

#: Reads the user ids currently in a room's call (the roster is the truth).
CallUsers = Callable[[str], Awaitable[set[str]]]


@dataclass(slots=True)
class _Ring:
    caller_id: str
    caller: dict[str, str]
    callees: list[str]
    timer: asyncio.Task[None] | None = field(default=None)


class Ringer:
    """Rings DM members and ends rings; one per node."""

    def __init__(
        self, *, hub: Hub, broker: Broker, ring_seconds: float, call_users: CallUsers
    ) -> None:
        self._hub = hub
        self._broker = broker
        self._ring_seconds = ring_seconds
        self._call_users = call_users
        self._rings: dict[str, _Ring] = {}

    async def ring(
        self, room_id: str, caller_id: str, caller_name: str, session: str, callees: list[str]
    ) -> None:
        """Ring every callee's sockets and start the missed-call timer here."""
        if not callees:
            return
        await self._stop_ring(room_id)
        await self._broker.delete(_declined_key(room_id))
        ring = _Ring(caller_id, frames.user_ref(caller_id, caller_name), callees)
        self._rings[room_id] = ring
        frame = frames.call_ring(room_id, caller_id, caller_name, session)
        for user_id in callees:
            await self._hub.publish_user(user_id, UserFrame(frame))
        ring.timer = asyncio.create_task(self._expire(room_id, ring), name=f"ring-{room_id}")

    async def answered(
        self, room_id: str, caller: dict[str, str], by: dict[str, str], members: list[str]
    ) -> None:
        """Someone joined the caller: every member's sockets stop ringing."""
        await self._stop_ring(room_id)
        await self._end(room_id, members, "answered", caller, by)

    async def declined(
        self, room_id: str, caller: dict[str, str], by: dict[str, str], members: list[str]
    ) -> None:
        """A callee declined; counted so the caller's node does not also report a miss."""
        # Lives a little longer than any ring it can belong to.
        await self._broker.incr(_declined_key(room_id), self._ring_seconds * 2)
        await self._end(room_id, members, "declined", caller, by)

    async def caller_left(self, room_id: str, user_id: str) -> None:
        """The caller hung up: if the ring is still on, it is a missed call."""
        ring = self._rings.get(room_id)
        if ring is None or ring.caller_id != user_id:
            return
        await self._stop_ring(room_id)
        await self._miss(room_id, ring)

    async def stop(self) -> None:
        for room_id in list(self._rings):
            await self._stop_ring(room_id)

    # -- internals -----------------------------------------------------------------
    async def _expire(self, room_id: str, ring: _Ring) -> None:
        await asyncio.sleep(self._ring_seconds)
        if self._rings.get(room_id) is ring:
            del self._rings[room_id]
        try:
            await self._miss(room_id, ring)
        except Exception:
            logger.exception("ending the ring in %s failed", room_id)

    async def _miss(self, room_id: str, ring: _Ring) -> None:
        if await self._call_users(room_id) - {ring.caller_id}:
            return  # answered (perhaps on another node)
        declines, _ttl = await self._broker.get_counter(_declined_key(room_id))
        if declines >= len(ring.callees):
            return  # everyone declined: they were told already
        await self._end(room_id, [ring.caller_id, *ring.callees], "missed", ring.caller, None)

    async def _stop_ring(self, room_id: str) -> None:
        ring = self._rings.pop(room_id, None)
        if ring is not None and ring.timer is not None and ring.timer is not asyncio.current_task():
            ring.timer.cancel()
            with suppress(asyncio.CancelledError):
                await ring.timer

    async def _end(
        self,
        room_id: str,
        members: list[str],
        reason: str,
        caller: dict[str, str],
        by: dict[str, str] | None,
    ) -> None:
        frame = frames.call_ring_end(room_id, reason, caller, by)
        for user_id in members:
            await self._hub.publish_user(user_id, UserFrame(frame))


def _declined_key(room_id: str) -> str:
    return f"call-declined:{room_id}"
