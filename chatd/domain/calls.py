"""Call membership: who is in each room's call, on every node, with no ghosts.

A room's call is a broker roster (`call:<room>`): one entry per connection
(the `session` of its `ready` frame) holding that participant's state. The
roster is shared by every node, so joins, the size limit and signal
authorization agree across nodes. Three things keep it free of ghosts:

- a socket that leaves a room or disconnects leaves that room's call (a hub
  room hook: the gateway's teardown detaches the socket from every room);
- this node re-puts its own participants every third of the TTL, so entries of
  a node that crashed expire after the TTL;
- the same heartbeat prunes the rosters of the rooms this node serves, and the
  one node that finds expired entries publishes the new snapshot.

Every change is published to the room as a `call` snapshot carrying the
roster's revision, so clients can drop a snapshot older than one they have.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress
from dataclasses import asdict, dataclass, replace
from typing import Any

from chatd.broker import Broker
from chatd.domain.ringing import Ringer
from chatd.errors import Refused, Unavailable
from chatd.fanout.connection import Connection
from chatd.fanout.hub import Hub
from chatd.models import RoomKind
from chatd.store import Store
from chatd.util.clock import now_ms
from chatd.util.jsonutil import JSONDecodeError, dumpb, loads
from chatd.util.outages import OutageLog
from chatd.wire import frames

logger = logging.getLogger(__name__)

#: A mesh call sends every stream to every peer: with n participants each one
#: uploads n - 1 copies. Six keeps that to five uploads (about 5 x 1.5 Mbit/s of
#: video), which home uplinks and a laptop's encoder still manage; larger calls
#: need an SFU (docs/architecture.md, "Calls").
MAX_PARTICIPANTS = 6


class CallError(Refused):
    """A call operation was refused; `code` is the `error` frame's code."""


@dataclass(frozen=True, slots=True)
class Participant:
    """One connection in a call, as its roster entry stores it."""

    session: str
    user_id: str
    username: str
    joined_at: int
    muted: bool = False
    camera: bool = False
    screen: bool = False

    def encode(self) -> bytes:
        return dumpb(asdict(self))

    @classmethod
    def decode(cls, data: bytes) -> Participant | None:
        try:
            return cls(**loads(data))
        except (JSONDecodeError, TypeError):
            return None

    def wire(self) -> dict[str, Any]:
        return frames.call_participant(
            self.session,
            self.user_id,
            self.username,
            muted=self.muted,
            camera=self.camera,
            screen=self.screen,
        )


@dataclass(frozen=True, slots=True)
class CallSnapshot:
    room_id: str
    rev: int
    participants: list[Participant]
    audio_only: bool

    def frame(self) -> dict[str, Any]:
        return frames.call(
            self.room_id,
            self.rev,
            [p.wire() for p in self.participants],
            audio_only=self.audio_only,
            max_participants=MAX_PARTICIPANTS,
        )

    def has(self, session: str) -> bool:
        return any(p.session == session for p in self.participants)


def roster_key(room_id: str) -> str:
    return f"call:{room_id}"


class Calls:
    """This node's side of every call: its participants, their heartbeats, the snapshots."""

    def __init__(
        self,
        *,
        hub: Hub,
        broker: Broker,
        store: Store,
        ttl: float,
        ring_seconds: float,
        outages: OutageLog,
    ) -> None:
        self._hub = hub
        self._outages = outages
        self._broker = broker
        self._store = store
        self._ttl = ttl
        self._ringer = Ringer(
            hub=hub, broker=broker, ring_seconds=ring_seconds, call_users=self._call_users
        )
        #: room -> session -> this node's participants in that room's call.
        self._local: dict[str, dict[str, Participant]] = {}
        #: room -> is a voice channel (never changes after creation).
        self._voice: dict[str, bool] = {}
        self._task: asyncio.Task[None] | None = None
        hub.add_room_hooks(joined=self._room_joined, left=self._room_left)

    # -- lifecycle ---------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.create_task(self._heartbeat(), name="call-heartbeat")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
        await self._ringer.stop()

    # -- membership --------------------------------------------------------------
    async def join(
        self, conn: Connection, room_id: str, *, audio: bool, video: bool
    ) -> CallSnapshot:
        """Put the connection in the room's call (again: update its state); refuse the 7th."""
        room = await self._store.get_room(room_id)
        if room is None:
            raise CallError("not_found", "no such room")
        self._voice[room_id] = room.voice
        if video and room.voice:
            raise CallError("audio_only", "this room's calls are audio-only; join without video")
        current = self._local.get(room_id, {}).get(conn.id)
        participant = Participant(
            session=conn.id,
            user_id=conn.user.id,
            username=conn.user.username,
            joined_at=current.joined_at if current else now_ms(),
            muted=not audio,
            camera=video,
        )
        dm = room.kind is RoomKind.DM
        before = await self.snapshot(room_id) if dm else None
        if not await self._put(room_id, participant, limit=MAX_PARTICIPANTS):
            raise CallError(
                "call_full",
                f"this call is full: at most {MAX_PARTICIPANTS} people can be in one call",
            )
        snapshot = await self._publish(room_id, exclude=conn)
        if before is not None:
            await self._ring_on_join(room_id, participant, before)
        return snapshot

    async def leave(self, conn: Connection, room_id: str) -> CallSnapshot | None:
        """Take the connection out of the call; None if it was not in it."""
        participant = self._forget(room_id, conn.id)
        if participant is None:
            return None
        await self._broker.roster_remove(roster_key(room_id), conn.id)
        snapshot = await self._publish(room_id, exclude=conn)
        if not any(p.user_id == participant.user_id for p in snapshot.participants):
            await self._ringer.caller_left(room_id, participant.user_id)
        return snapshot

    async def update(
        self,
        conn: Connection,
        room_id: str,
        *,
        muted: bool | None = None,
        camera: bool | None = None,
        screen: bool | None = None,
    ) -> CallSnapshot:
        """Change the connection's muted/camera/screen state and tell the room."""
        current = self._local.get(room_id, {}).get(conn.id)
        if current is None:
            raise CallError("not_in_call", "you are not in this room's call; send call-join first")
        if (camera or screen) and await self._audio_only(room_id):
            raise CallError("audio_only", "this room's calls are audio-only")
        updated = replace(
            current,
            muted=current.muted if muted is None else muted,
            camera=current.camera if camera is None else camera,
            screen=current.screen if screen is None else screen,
        )
        # No limit: the entry exists (or was pruned while its node was cut off).
        await self._put(room_id, updated, limit=None)
        return await self._publish(room_id, exclude=conn)

    async def snapshot(self, room_id: str) -> CallSnapshot:
        roster = await self._broker.roster_get(roster_key(room_id))
        participants = [
            p for p in (Participant.decode(v) for v in roster.members.values()) if p is not None
        ]
        participants.sort(key=lambda p: (p.joined_at, p.session))
        return CallSnapshot(room_id, roster.rev, participants, await self._audio_only(room_id))

    async def signal_targets(self, conn: Connection, room_id: str, to: str | None) -> list[str]:
        """Sessions a signal from `conn` may go to: `to`, or every other participant.

        Both ends must be in the room's call; anything else is `forbidden`.
        """
        snapshot = await self.snapshot(room_id)
        if not snapshot.has(conn.id):
            raise CallError("forbidden", "you are not in this room's call; send call-join first")
        if to is None:
            return [p.session for p in snapshot.participants if p.session != conn.id]
        if to == conn.id:
            raise CallError("invalid", "a signal cannot be addressed to yourself")
        if not snapshot.has(to):
            raise CallError("forbidden", "that session is not in this room's call")
        return [to]

    # -- hub hooks and heartbeat ---------------------------------------------------
    async def _room_joined(self, conn: Connection, room_id: str) -> None:
        """A socket that starts receiving a room sees its ongoing call (the sidebar)."""
        snapshot = await self.snapshot(room_id)
        if snapshot.participants:
            conn.send(snapshot.frame())

    async def _room_left(self, conn: Connection, room_id: str) -> None:
        await self.leave(conn, room_id)

    async def _heartbeat(self) -> None:
        interval = self._ttl / 3
        while True:
            await asyncio.sleep(interval)
            try:
                await self.refresh()
            except Unavailable as exc:
                # Rosters live in the broker: one line per outage, not a traceback a beat.
                self._outages.note(exc, "call heartbeat")
            except Exception:
                logger.exception("call heartbeat failed")

    async def refresh(self) -> None:
        """Keep this node's participants alive; publish rosters that lost expired ones."""
        for room_id, participants in list(self._local.items()):
            for participant in list(participants.values()):
                await self._refresh_one(room_id, participant)
        rooms = self._hub.local_rooms()
        changed = await self._broker.roster_prune([roster_key(r) for r in rooms])
        for key in changed:
            await self._publish(key.removeprefix("call:"), exclude=None)

    # -- helpers -----------------------------------------------------------------
    async def _put(self, room_id: str, participant: Participant, *, limit: int | None) -> bool:
        """Record a local participant here and in the roster; False if the call is full.

        Local first, so a leave (the socket closing) that runs while the put is in
        flight finds it; if that happened, the entry just written is taken out again.
        """
        local = self._local.setdefault(room_id, {})
        previous = local.get(participant.session)
        local[participant.session] = participant
        rev = await self._broker.roster_put(
            roster_key(room_id), participant.session, participant.encode(), self._ttl, limit=limit
        )
        if rev is None:
            if self._local.get(room_id, {}).get(participant.session) is participant:
                if previous is None:
                    self._forget(room_id, participant.session)
                else:
                    self._local[room_id][participant.session] = previous
            return False
        if self._local.get(room_id, {}).get(participant.session) is None:
            await self._broker.roster_remove(roster_key(room_id), participant.session)
        return True

    async def _refresh_one(self, room_id: str, participant: Participant) -> None:
        """Re-put one entry (an upsert: it also comes back after a broker restart).

        A leave or a state change may land while this put is in flight, from
        another connection of the pool: afterwards the local record wins again.
        """
        key = roster_key(room_id)
        await self._broker.roster_put(key, participant.session, participant.encode(), self._ttl)
        current = self._local.get(room_id, {}).get(participant.session)
        if current is None:
            await self._broker.roster_remove(key, participant.session)
        elif current != participant:
            await self._broker.roster_put(key, current.session, current.encode(), self._ttl)

    def _forget(self, room_id: str, session: str) -> Participant | None:
        participants = self._local.get(room_id, {})
        participant = participants.pop(session, None)
        if not participants:
            self._local.pop(room_id, None)
        return participant

    async def _publish(self, room_id: str, *, exclude: Connection | None) -> CallSnapshot:
        snapshot = await self.snapshot(room_id)
        await self._hub.publish_ephemeral(room_id, snapshot.frame(), exclude=exclude)
        return snapshot

    async def decline(self, conn: Connection, room_id: str) -> None:
        """A DM member turns down the call that is ringing them."""
        snapshot = await self.snapshot(room_id)
        if not snapshot.participants:
            raise CallError("not_found", "no call is ringing in this room")
        if any(p.user_id == conn.user.id for p in snapshot.participants):
            raise CallError("invalid", "you are in this call; send call-leave to hang up")
        first = snapshot.participants[0]
        await self._ringer.declined(
            room_id,
            frames.user_ref(first.user_id, first.username),
            frames.user_ref(conn.user.id, conn.user.username),
            await self._store.member_ids(room_id),
        )

    async def _ring_on_join(self, room_id: str, joiner: Participant, before: CallSnapshot) -> None:
        users_before = {p.user_id for p in before.participants}
        members = await self._store.member_ids(room_id)
        if not users_before:
            callees = [m for m in members if m != joiner.user_id]
            await self._ringer.ring(
                room_id, joiner.user_id, joiner.username, joiner.session, callees
            )
        elif joiner.user_id not in users_before:
            first = before.participants[0]
            await self._ringer.answered(
                room_id,
                frames.user_ref(first.user_id, first.username),
                frames.user_ref(joiner.user_id, joiner.username),
                members,
            )

    async def _call_users(self, room_id: str) -> set[str]:
        return {p.user_id for p in (await self.snapshot(room_id)).participants}

    async def _audio_only(self, room_id: str) -> bool:
        """Whether the room is a voice channel (a flag fixed at creation, so cached)."""
        voice = self._voice.get(room_id)
        if voice is None:
            room = await self._store.get_room(room_id)
            voice = self._voice[room_id] = bool(room and room.voice)
        return voice
