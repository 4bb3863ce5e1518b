"""Caps on open sockets per user and per client address, counted across nodes.

Each socket is a member of two broker rosters (its user's and its address's);
a roster put with a limit checks and inserts atomically on every node, so
parallel handshakes cannot overshoot. The members expire unless the node's
heartbeat refreshes them, so a crashed node's sockets stop counting within
a presence TTL. A socket costs a descriptor and ~10 KiB, which is what an
uncapped account or address could exhaust the server of.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from chatd.broker import Broker
from chatd.errors import Unavailable
from chatd.fanout.connection import Connection
from chatd.util.outages import OutageLog

logger = logging.getLogger(__name__)

#: What a refused client is told to wait: sockets free up when others close,
#: which the server cannot predict, so this only keeps clients from spinning.
RETRY_AFTER_SECONDS = 30


@dataclass(frozen=True, slots=True)
class SocketCaps:
    broker: Broker
    per_user: int
    per_address: int
    #: Where a broker outage that suspends the caps is reported.
    outages: OutageLog
    #: Seconds a socket stays counted without a heartbeat (the presence TTL).
    ttl: float

    async def admit_address(self, socket_id: str, address: str) -> bool:
        """Count a socket for its address (before the upgrade); False if the cap is full."""
        return await self._admit(_address_key(address), socket_id, self.per_address)

    async def admit_user(self, socket_id: str, user_id: str) -> bool:
        """Count a socket for its user (after hello); False if the cap is full."""
        return await self._admit(_user_key(user_id), socket_id, self.per_user)

    async def _admit(self, key: str, socket_id: str, limit: int) -> bool:
        try:
            rev = await self.broker.roster_put(key, socket_id, b"", self.ttl, limit=limit)
        except Unavailable as exc:
            # The count lives in the broker. While it is down the cap is not
            # enforced rather than every new socket refused: chat goes on on
            # each node (each still bounded by its descriptor limit), and the
            # heartbeat counts the sockets again once the broker is back.
            self.outages.note(exc, "socket cap")
            return True
        return rev is not None

    async def release(self, socket_id: str, address: str, user_id: str | None) -> None:
        """Stop counting a closed socket (never raises: the TTL is the backstop)."""
        keys = [_address_key(address)] + ([_user_key(user_id)] if user_id else [])
        for key in keys:
            try:
                await self.broker.roster_remove(key, socket_id)
            except Unavailable as exc:
                self.outages.note(exc, "socket cap release (counted until it expires)")
            except Exception as exc:
                logger.warning("socket %s stays counted until it expires: %s", socket_id, exc)

    async def refresh(self, connections: Iterable[Connection]) -> None:
        """Keep this node's sockets counted (the heartbeat, a few calls for the node)."""
        entries: list[tuple[str, str, bytes]] = []
        for conn in connections:
            entries.append((_user_key(conn.user.id), conn.id, b""))
            entries.append((_address_key(conn.address), conn.id, b""))
        await self.broker.roster_put_many(entries, self.ttl)


def _user_key(user_id: str) -> str:
    return f"sockets:user:{user_id}"


def _address_key(address: str) -> str:
    return f"sockets:addr:{address}"
