"""Expiring counters (rate limits, login throttling), and their fallback while Redis is away.

`Counters` is the part of the Broker port that the attempt limits use
(chatd/auth/limits.py); every Broker is one. `LocalCounters` keeps them in this
process (the embedded broker's own counters). `FailoverCounters` uses the
broker's shared counters and, while the broker is unavailable, this node's
local ones: logins, sign-ups and password changes stay limited during a Redis
outage (per node instead of across nodes) rather than all answering 503.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Final, Protocol, TypeVar

from chatd.errors import Unavailable
from chatd.util.outages import OutageLog

_T = TypeVar("_T")

#: Counters are keyed by things like client IPs, so dead ones must not pile up
#: forever; they are swept once this many exist.
_COUNTER_SWEEP_AT: Final = 10_000

#: While the broker is down, it is tried again at most this often. Every try
#: that fails costs its request up to the broker's command timeout, so not on
#: every request; and shared counting is back within this long after Redis is.
RETRY_SHARED_SECONDS: Final = 2.0


class Counters(Protocol):
    """Counters that start their life with their first increment (see Broker)."""

    async def incr(self, key: str, ttl: float) -> int:
        """Increment a counter; the first increment starts its `ttl`-second life."""
        ...

    async def decr(self, key: str) -> None:
        """Give one back to a live counter: never below 0, never reviving it."""
        ...

    async def get_counter(self, key: str) -> tuple[int, float]:
        """(value, seconds left to live); (0, 0.0) if absent."""
        ...

    async def delete(self, key: str) -> None: ...


class LocalCounters:
    """Counters in this process, with deadlines on `time.monotonic` (clock jumps do nothing)."""

    def __init__(self) -> None:
        # key -> (value, monotonic deadline)
        self._counters: dict[str, tuple[int, float]] = {}
        self._sweep_at = _COUNTER_SWEEP_AT

    async def incr(self, key: str, ttl: float) -> int:
        now = time.monotonic()
        value, deadline = self._counters.get(key, (0, 0.0))
        if deadline <= now:
            value, deadline = 0, now + ttl
        value += 1
        self._counters[key] = (value, deadline)
        if len(self._counters) > self._sweep_at:
            self._sweep(now)
        return value

    async def decr(self, key: str) -> None:
        value, deadline = self._counters.get(key, (0, 0.0))
        if value > 0 and deadline > time.monotonic():
            self._counters[key] = (value - 1, deadline)

    async def get_counter(self, key: str) -> tuple[int, float]:
        now = time.monotonic()
        value, deadline = self._counters.get(key, (0, 0.0))
        if deadline <= now:
            self._counters.pop(key, None)
            return 0, 0.0
        return value, deadline - now

    async def delete(self, key: str) -> None:
        self._counters.pop(key, None)

    def _sweep(self, now: float) -> None:
        for key in [k for k, (_v, deadline) in self._counters.items() if deadline <= now]:
            del self._counters[key]
        # Doubling keeps `incr` O(1) amortized even when every counter is live.
        self._sweep_at = max(_COUNTER_SWEEP_AT, 2 * len(self._counters))


class FailoverCounters:
    """The shared counters, or this node's own while they are unavailable.

    The first failure switches to the local counters (one outage line in
    `outages`); the shared ones are tried again every `retry_after` seconds,
    and the first answer switches back (one recovery line). Counts made
    locally stay local: an outage only ever loosens a limit to per node, and
    what the shared counters held before it still counts afterwards.
    """

    def __init__(
        self, shared: Counters, outages: OutageLog, *, retry_after: float = RETRY_SHARED_SECONDS
    ) -> None:
        self._shared = shared
        self._local = LocalCounters()
        self._outages = outages
        self._retry_after = retry_after
        #: The unavailable backend's name while counting locally, else None.
        self._down: str | None = None
        #: Monotonic time from which the shared counters are tried again.
        self._retry_at = 0.0

    async def _count(self, op: Callable[[Counters], Awaitable[_T]]) -> _T:
        if self._down is None or time.monotonic() >= self._retry_at:
            try:
                result = await op(self._shared)
            except Unavailable as exc:
                self._down = exc.backend
                self._retry_at = time.monotonic() + self._retry_after
                self._outages.note(exc, "attempt limits (now counted per node)")
            else:
                if self._down is not None:
                    self._outages.recovered(self._down, "attempt limits (shared again)")
                    self._down = None
                return result
        return await op(self._local)

    async def incr(self, key: str, ttl: float) -> int:
        return await self._count(lambda counters: counters.incr(key, ttl))

    async def decr(self, key: str) -> None:
        await self._count(lambda counters: counters.decr(key))

    async def get_counter(self, key: str) -> tuple[int, float]:
        return await self._count(lambda counters: counters.get_counter(key))

    async def delete(self, key: str) -> None:
        # Locally too: a back-off earned during an outage must not outlive the
        # right password given after it.
        await self._local.delete(key)
        await self._count(lambda counters: counters.delete(key))
