"""This node's sockets: by id, by user and by room, and the hooks run as they
start and stop receiving a room."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Collection

from chatd.errors import Unavailable
from chatd.fanout.connection import Connection
from chatd.util.outages import OutageLog

logger = logging.getLogger(__name__)

#: Called with (connection, room id) after a socket starts or stops receiving a
#: room on this node (join, leave, disconnect); see SocketRegistry.add_room_hooks.
RoomHook = Callable[[Connection, str], Awaitable[None]]


class SocketRegistry:
    """Where each local socket is; the hub keeps it, the other parts read it."""

    def __init__(self, outages: OutageLog) -> None:
        self._outages = outages
        self._rooms: dict[str, set[Connection]] = defaultdict(set)
        #: A user's sockets here. A list, not a set: a user has one or a few, and
        #: an empty set alone costs 216 B per connected user (scenario 4).
        self._users: dict[str, list[Connection]] = {}
        self._by_id: dict[str, Connection] = {}
        self._joined_hooks: list[RoomHook] = []
        self._left_hooks: list[RoomHook] = []

    # -- reading -------------------------------------------------------------------
    @property
    def connections(self) -> list[Connection]:
        return [conn for conns in self._users.values() for conn in conns]

    def local_rooms(self) -> list[str]:
        return [room for room, conns in self._rooms.items() if conns]

    def user_connections(self, user_id: str) -> list[Connection]:
        return list(self._users.get(user_id, ()))

    def members(self, room_id: str) -> Collection[Connection]:
        """The room's sockets here (the live set: copy it to await while iterating)."""
        return self._rooms.get(room_id, ())

    def serves(self, room_id: str) -> bool:
        """The room has had a socket here since its last socket here left."""
        return room_id in self._rooms

    # -- sockets and users ---------------------------------------------------------
    def add(self, conn: Connection) -> bool:
        """Register a socket; True if it is its user's first here."""
        self._by_id[conn.id] = conn
        conns = self._users.setdefault(conn.user.id, [])
        first = not conns
        if conn not in conns:
            conns.append(conn)
        return first

    def remove(self, conn: Connection) -> bool:
        """Forget a socket (out of its rooms already); True if its user has none left here."""
        self._by_id.pop(conn.id, None)
        conns = self._users.get(conn.user.id)
        if conns is None:
            return False
        if conn in conns:
            conns.remove(conn)
        if conns:
            return False
        del self._users[conn.user.id]
        return True

    # -- rooms -----------------------------------------------------------------------
    def enter(self, conn: Connection, room_id: str) -> bool:
        """Put a socket in a room; True if it is the room's first socket here."""
        conns = self._rooms[room_id]
        first = not conns
        conns.add(conn)
        return first

    def exit(self, conn: Connection, room_id: str) -> bool:
        """Take a socket out of a room; False if the room was not served here."""
        conns = self._rooms.get(room_id)
        if conns is None:
            return False
        conns.discard(conn)
        return True

    def drop_if_empty(self, room_id: str) -> bool:
        """Stop serving a room nobody here is in any more; True if it was dropped."""
        if self._rooms.get(room_id):
            return False
        self._rooms.pop(room_id, None)
        return True

    # -- delivery ---------------------------------------------------------------------
    def deliver(self, room_id: str, data: bytes, exclude_id: str | None) -> None:
        """Queue a frame to every socket of the room here but `exclude_id`."""
        for conn in tuple(self._rooms.get(room_id, ())):
            if conn.id != exclude_id:
                conn.send_raw(data)

    def deliver_to(self, room_id: str, data: bytes, conn_id: str) -> bool:
        """Queue to one local socket if it is here and in the room; True if it was."""
        conn = self._by_id.get(conn_id)
        if conn is None or room_id not in conn.rooms:
            return False
        conn.send_raw(data)
        return True

    # -- hooks -------------------------------------------------------------------------
    def add_room_hooks(
        self, *, joined: RoomHook | None = None, left: RoomHook | None = None
    ) -> None:
        """Run `joined`/`left` whenever a local socket starts/stops receiving a room.

        `left` also runs for every room of a socket that disconnects, so state a
        feature keeps per socket and room (a call) never outlives the socket.
        A hook that raises is logged; the others still run.
        """
        if joined is not None:
            self._joined_hooks.append(joined)
        if left is not None:
            self._left_hooks.append(left)

    async def joined(self, conn: Connection, room_id: str) -> None:
        await self._run_hooks(self._joined_hooks, conn, room_id)

    async def left(self, conn: Connection, room_id: str) -> None:
        await self._run_hooks(self._left_hooks, conn, room_id)

    async def _run_hooks(self, hooks: list[RoomHook], conn: Connection, room_id: str) -> None:
        for hook in hooks:
            try:
                await hook(conn, room_id)
            except Unavailable as exc:
                # An outage, already reported by /readyz: one line per outage.
                self._outages.note(exc, "room hook")
            except Exception:
                logger.exception("room hook %r failed for %s in %s", hook, conn.id, room_id)
