"""A clock that tests advance instead of sleeping (chatd.util.clock.Clock).

`advance` moves time forward one deadline at a time, in order: it runs a timer's
callback, or wakes a sleeper and lets its task run until it is idle again -
finished, or asleep on this clock - before going on; whatever I/O it does
meanwhile (a Redis round trip, a store read) is real. So a test sees what a node
would after that much time, in milliseconds of real time. Wall-clock time
(`time()`) starts at the real time and moves with the clock.
A timer or sleep due now (a delay of 0) runs at the next `advance`, not by itself.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field

#: Real seconds a woken task may take to become idle: longer is a test bug
#: (it waits on something that only the test can do).
_IDLE_TIMEOUT = 5.0


@dataclass(order=True)
class _Sleeper:
    deadline: float
    order: int
    #: Done once woken or cancelled.
    future: asyncio.Future[None] = field(compare=False)
    task: asyncio.Task[object] | None = field(compare=False)
    #: For a call_later timer: what to run (its future only marks it cancelled).
    callback: Callable[[], object] | None = field(default=None, compare=False)

    def cancel(self) -> None:
        self.future.cancel()


class ManualClock:
    def __init__(self, start: float = 1000.0) -> None:
        self._start = self._now = start
        self._wall_start = time.time()
        self._sleepers: list[_Sleeper] = []
        self._order = itertools.count()

    def monotonic(self) -> float:
        return self._now

    def time(self) -> float:
        return self._wall_start + (self._now - self._start)

    def call_later(self, delay: float, callback: Callable[[], object]) -> _Sleeper:
        future = asyncio.get_running_loop().create_future()
        timer = _Sleeper(self._now + max(0.0, delay), next(self._order), future, None, callback)
        heapq.heappush(self._sleepers, timer)
        return timer

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future = asyncio.get_running_loop().create_future()
        heapq.heappush(
            self._sleepers,
            _Sleeper(self._now + seconds, next(self._order), future, asyncio.current_task()),
        )
        await future  # a cancelled sleeper's future is cancelled: advance skips it

    @property
    def sleeping(self) -> int:
        """Tasks asleep on this clock now."""
        return sum(1 for s in self._sleepers if s.callback is None and not s.future.done())

    async def advance(self, seconds: float) -> None:
        target = self._now + seconds
        await self._settle()
        while self._sleepers and self._sleepers[0].deadline <= target:
            sleeper = heapq.heappop(self._sleepers)
            if sleeper.future.done():
                continue
            self._now = max(self._now, sleeper.deadline)
            sleeper.future.set_result(None)
            if sleeper.callback is not None:
                sleeper.callback()
                await self._settle()
            else:
                await self._idle(sleeper.task)
        self._now = target
        await self._settle()

    async def _settle(self) -> None:
        """Let tasks just created reach their first wait (a sleep here, say)."""
        for _ in range(3):
            await asyncio.sleep(0)

    async def _idle(self, task: asyncio.Task[object] | None) -> None:
        loop = asyncio.get_running_loop()
        give_up = loop.time() + _IDLE_TIMEOUT
        await asyncio.sleep(0)
        while task is not None and not task.done() and not self._asleep(task):
            assert loop.time() < give_up, f"{task!r} neither finished nor slept again"
            await asyncio.sleep(0.001)

    def _asleep(self, task: asyncio.Task[object]) -> bool:
        return any(s.task is task and not s.future.done() for s in self._sleepers)
