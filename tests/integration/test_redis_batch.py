"""CommandBatcher on a real redis-server: commands of one loop tick share a pipeline,
and every caller still gets exactly its own reply or error."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from chatd.broker.redis_batch import CommandBatcher

ECHO_KEYS = "return {KEYS[1], ARGV[1]}"


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


def key() -> str:
    return f"test:batch:{uuid.uuid4().hex[:10]}"


async def test_commands_of_one_tick_each_get_their_own_reply(redis: Redis) -> None:
    batcher = CommandBatcher(redis, timeout=2)
    counters = [key() for _ in range(300)]
    replies = await asyncio.gather(
        *(batcher.execute("INCRBY", counter, n) for n, counter in enumerate(counters))
    )
    assert replies == list(range(300))
    assert [int(v) for v in await redis.mget(counters)] == list(range(300))
    await batcher.close()


async def test_one_failing_command_does_not_fail_the_others_in_its_pipeline(
    redis: Redis,
) -> None:
    batcher = CommandBatcher(redis, timeout=2)
    text, counter = key(), key()
    await redis.set(text, "not a number")
    before, bad, after = await asyncio.gather(
        batcher.execute("INCR", counter),
        batcher.execute("INCR", text),
        batcher.execute("INCR", counter),
        return_exceptions=True,
    )
    assert (before, after) == (1, 2)
    assert isinstance(bad, ResponseError)
    with pytest.raises(ResponseError):  # alone, too
        await batcher.execute("INCR", text)
    await batcher.close()


async def test_scripts_are_loaded_again_after_redis_forgot_them(redis: Redis) -> None:
    batcher = CommandBatcher(redis, timeout=2)
    echo = redis.register_script(ECHO_KEYS)
    await redis.script_flush()
    assert await batcher.script(echo, ["k"], ["alone"]) == [b"k", b"alone"]
    await redis.script_flush()
    replies = await asyncio.gather(*(batcher.script(echo, [f"k{i}"], [i]) for i in range(20)))
    assert replies == [[f"k{i}".encode(), str(i).encode()] for i in range(20)]
    await batcher.close()


async def test_a_caller_that_gives_up_leaves_the_others_their_replies(redis: Redis) -> None:
    batcher = CommandBatcher(redis, timeout=2)
    counter = key()
    impatient = asyncio.ensure_future(batcher.execute("INCR", counter))
    patient = asyncio.ensure_future(batcher.execute("INCR", counter))
    await asyncio.sleep(0)  # both queued in this tick
    impatient.cancel()
    assert await patient in (1, 2)  # the cancelled one may or may not have run
    await batcher.close()
