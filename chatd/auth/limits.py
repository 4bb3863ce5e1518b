"""Attempt limits shared by every node through the broker's counters.

They are given `Counters` (chatd/broker/counters.py): the app passes ones that
fall back to this node's own while the broker is down, so the limits then
hold per node instead of refusing every attempt.

An attempt is RESERVED before the work it guards (checking a password,
creating an account): the counter is incremented first and the attempt refused
when that increment goes past the allowance, so a thousand parallel requests
cannot all pass a check made before any of them was counted. An attempt that
was counted but not made (another limit refused it) is given back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from chatd.broker.counters import Counters

#: Back-off doubles from 1 s; past 2**30 s the cap has long been reached, and
#: a burst of parallel attempts must not make Python build a huge integer.
_MAX_DOUBLINGS = 30


class Throttled(Exception):
    """Refused without trying; `retry_after` whole seconds until it may work again."""

    def __init__(self, retry_after: float, what: str = "too many attempts") -> None:
        self.retry_after = max(1, math.ceil(retry_after))
        super().__init__(f"{what}; retry in {self.retry_after} s")


@dataclass(frozen=True, slots=True)
class BackoffLimit:
    """`free` attempts per `window`, then one per back-off period (1 s, 2 s, 4 s, ...).

    The back-off is a lock counter: the first attempt to create it goes ahead and
    every other one is refused while it lives, so however many arrive at once,
    at most `free` + 1 are made before the first second has passed. Its length
    doubles with every attempt made past the allowance (counted apart, so a burst
    of refused ones does not jump straight to the longest back-off).
    """

    counters: Counters
    name: str
    free: int
    window: float
    max_backoff: float

    async def reserve(self, key: str) -> float:
        """Count one attempt: 0.0 if it may go ahead, else the seconds to wait."""
        attempts = f"{self.name}:{key}"
        if await self.counters.incr(attempts, self.window) <= self.free:
            return 0.0
        lock, steps = f"{self.name}-lock:{key}", f"{self.name}-steps:{key}"
        # Read before the lock is taken: the previous holder counted its step
        # right after taking its lock, at least one back-off period ago.
        made, _ = await self.counters.get_counter(steps)
        backoff = min(2.0 ** min(made, _MAX_DOUBLINGS), self.max_backoff)
        if await self.counters.incr(lock, backoff) == 1:
            await self.counters.incr(steps, self.window)
            return 0.0
        # Refused attempts are not counted (so refunds stay exact).
        await self.counters.decr(attempts)
        _, wait = await self.counters.get_counter(lock)
        return max(wait, 0.001)

    async def refund(self, key: str) -> None:
        """Give back an attempt that was reserved but not made (or that succeeded)."""
        await self.counters.decr(f"{self.name}:{key}")

    async def clear(self, key: str) -> None:
        """Forget every attempt and the back-off (the right password was given)."""
        for suffix in ("", "-lock", "-steps"):
            await self.counters.delete(f"{self.name}{suffix}:{key}")


@dataclass(frozen=True, slots=True)
class WindowLimit:
    """At most `limit` attempts per fixed `window`, which starts with the first one."""

    counters: Counters
    name: str
    limit: int
    window: float

    async def reserve(self, key: str) -> float:
        """Count one attempt: 0.0 if it may go ahead, else the seconds to wait."""
        counter = f"{self.name}:{key}"
        if await self.counters.incr(counter, self.window) <= self.limit:
            return 0.0
        await self.counters.decr(counter)
        _, wait = await self.counters.get_counter(counter)
        return max(wait, 0.001)

    async def refund(self, key: str) -> None:
        await self.counters.decr(f"{self.name}:{key}")
