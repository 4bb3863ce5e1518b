"""Commands issued together go to Redis together: one pipeline per event-loop tick.

redis-py spends ~60 us of Python per command (a pooled connection behind an
asyncio.Condition, a timeout, a write, a reply read of its own), several times
Redis's own work. When a node is busy, commands come in bursts (a reconnect
storm's hellos, a heartbeat, a room's fan-out of publishes), so the batcher
collects the commands issued during one iteration of the event loop and sends
them as one non-transactional pipeline: one connection, one write, one read of
all replies (~20 us per command in a burst of 50). A command alone goes as it
is. Commands keep the order they were issued in, and each caller gets its own
reply or error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError, ResponseError
from redis.typing import EncodableT

from chatd.futures import fail_all, settle

_Pending = tuple[tuple[EncodableT, ...], "asyncio.Future[Any]"]


class CommandBatcher:
    """Runs commands on `redis`, those issued in one loop tick as one pipeline.

    `timeout` bounds each send; callers bound their own wait too (a caller
    that gives up leaves its reply unread, nothing else).
    """

    def __init__(self, redis: Redis, timeout: float) -> None:
        self._redis = redis
        self._timeout = timeout
        self._pending: list[_Pending] = []
        # Sends under way, so close() can wait for them and they are not collected.
        self._sending: set[asyncio.Task[None]] = set()

    async def execute(self, *args: EncodableT) -> Any:
        """The parsed reply of one command (as `Redis.execute_command` gives it)."""
        loop = asyncio.get_running_loop()
        reply: asyncio.Future[Any] = loop.create_future()
        self._pending.append((args, reply))
        if len(self._pending) == 1:
            loop.call_soon(self._flush)
        return await reply

    async def script(
        self, script: AsyncScript, keys: Sequence[EncodableT], args: Sequence[EncodableT]
    ) -> Any:
        """Run a registered Lua script by its SHA, loading it first if Redis lost it."""
        try:
            return await self.execute("EVALSHA", script.sha, len(keys), *keys, *args)
        except NoScriptError:
            # A restarted (or flushed) Redis forgot its scripts.
            await self._redis.script_load(script.script)
            return await self.execute("EVALSHA", script.sha, len(keys), *keys, *args)

    async def close(self) -> None:
        """Wait for the sends under way (their callers may still want the replies)."""
        if self._sending:
            await asyncio.gather(*self._sending, return_exceptions=True)

    def _flush(self) -> None:
        batch, self._pending = self._pending, []
        task = asyncio.get_running_loop().create_task(self._send(batch))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send(self, batch: list[_Pending]) -> None:
        live = [(args, reply) for args, reply in batch if not reply.done()]
        if not live:
            return  # every caller gave up before the tick ended
        try:
            async with asyncio.timeout(self._timeout):
                if len(live) == 1:
                    results: list[Any] = [await _one(self._redis, live[0][0])]
                else:
                    pipe = self._redis.pipeline(transaction=False)
                    for args, _reply in live:
                        pipe.execute_command(*args)
                    results = await pipe.execute(raise_on_error=False)
        except Exception as exc:
            # The connection failed (or timed out): every command shares its fate.
            fail_all([reply for _args, reply in live], exc)
            return
        settle([reply for _args, reply in live], results)


async def _one(redis: Redis, args: tuple[EncodableT, ...]) -> Any:
    """One command's reply, or its error as a value (as a pipeline gives them)."""
    try:
        return await redis.execute_command(*args)  # type: ignore[no-untyped-call]
    except ResponseError as exc:
        return exc
