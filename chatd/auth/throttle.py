"""Login throttling with exponential back-off, shared through the broker across nodes.

Failures are counted per username and per client address within a window. Past
a free allowance every further failure locks that key for twice as long as the
last time (1 s, 2 s, 4 s, ... capped), so guessing stays slow while a user who
mistypes a few times never notices.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from chatd.broker import Broker

#: Failures remembered for this long after the last one.
WINDOW_SECONDS = 15 * 60
#: Failures allowed before back-off starts: per account (typos) and per address
#: (several people behind one NAT share it).
FREE_FAILURES_PER_USER = 5
FREE_FAILURES_PER_ADDRESS = 20
MAX_LOCK_SECONDS = 15 * 60


class Throttled(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed logins; retry in {retry_after} s")
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class _Key:
    counter: str
    lock: str
    free: int


class LoginThrottle:
    def __init__(self, broker: Broker, prefix: str) -> None:
        self._broker = broker
        self._prefix = prefix

    def _keys(self, username: str, address: str) -> list[_Key]:
        name = username.lower()
        return [
            _Key(
                f"{self._prefix}login:user:{name}",
                f"{self._prefix}login:user-lock:{name}",
                FREE_FAILURES_PER_USER,
            ),
            _Key(
                f"{self._prefix}login:addr:{address}",
                f"{self._prefix}login:addr-lock:{address}",
                FREE_FAILURES_PER_ADDRESS,
            ),
        ]

    async def check(self, username: str, address: str) -> None:
        """Raise Throttled if either key is locked right now."""
        waits = []
        for key in self._keys(username, address):
            count, ttl = await self._broker.get_counter(key.lock)
            if count:
                waits.append(ttl)
        if waits:
            raise Throttled(max(1, math.ceil(max(waits))))

    async def failed(self, username: str, address: str) -> None:
        for key in self._keys(username, address):
            failures = await self._broker.incr(key.counter, WINDOW_SECONDS)
            if failures > key.free:
                lock_seconds = min(2 ** (failures - key.free - 1), MAX_LOCK_SECONDS)
                await self._broker.incr(key.lock, lock_seconds)

    async def succeeded(self, username: str) -> None:
        """A right password clears the account's count (the address keeps its own)."""
        key = self._keys(username, "")[0]
        await self._broker.delete(key.counter)
