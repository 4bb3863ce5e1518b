"""CommandPipe on a real redis-server: commands pipelined on one connection, each
caller gets exactly its own reply or error, and a lost or silent connection ends
every command in bounded time."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from redis.asyncio import Redis
from redis.asyncio.connection import ConnectionPool
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import DataError, ResponseError

from chatd.broker.redis_pipe import CommandPipe, LuaScript
from tests.fixtures.redis import RedisServer

ECHO_KEYS = LuaScript("return {KEYS[1], ARGV[1]}")


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@asynccontextmanager
async def pipe_to(url: str, timeout: float = 2) -> AsyncIterator[CommandPipe]:
    pool = ConnectionPool.from_url(url, protocol=2)
    commands = CommandPipe(pool.make_connection, timeout)
    try:
        yield commands
    finally:
        await commands.close()
        await pool.aclose()


@pytest.fixture
async def pipe(redis_url: str) -> AsyncIterator[CommandPipe]:
    async with pipe_to(redis_url) as commands:
        yield commands


@pytest.fixture
async def admin(restartable_redis: RedisServer) -> AsyncIterator[Redis]:
    """A second client of the private server, to kill or pause the pipe's connection."""
    client = Redis.from_url(restartable_redis.url)
    yield client
    await client.aclose()


def key() -> str:
    return f"test:pipe:{uuid.uuid4().hex[:10]}"


async def test_commands_issued_together_each_get_their_own_reply(
    pipe: CommandPipe, redis: Redis
) -> None:
    counters = [key() for _ in range(300)]
    replies = await asyncio.gather(
        *(pipe.execute("INCRBY", counter, n) for n, counter in enumerate(counters))
    )
    assert replies == list(range(300))
    assert [int(v) for v in await redis.mget(counters)] == list(range(300))


async def test_commands_run_in_the_order_they_were_issued(
    pipe: CommandPipe, redis: Redis
) -> None:
    items = key()
    pushes = []
    for n in range(200):
        pushes.append(pipe.execute("RPUSH", items, n))
        if n % 7 == 0:
            await asyncio.sleep(0)  # spread over several loop ticks, several writes
    assert await asyncio.gather(*pushes) == list(range(1, 201))
    assert [int(v) for v in await redis.lrange(items, 0, -1)] == list(range(200))


async def test_an_error_reply_fails_only_its_own_command(pipe: CommandPipe, redis: Redis) -> None:
    text, counter = key(), key()
    await redis.set(text, "not a number")
    before, bad, after = await asyncio.gather(
        pipe.execute("INCR", counter),
        pipe.execute("INCR", text),
        pipe.execute("INCR", counter),
        return_exceptions=True,
    )
    assert (before, after) == (1, 2)
    assert isinstance(bad, ResponseError)
    with pytest.raises(ResponseError):  # alone, too
        await pipe.execute("INCR", text)
    assert await pipe.execute("INCR", counter) == 3


async def test_an_argument_redis_cannot_encode_fails_its_caller_at_once(
    pipe: CommandPipe,
) -> None:
    with pytest.raises(DataError):
        pipe.execute("SET", key(), None)  # type: ignore[arg-type]
    assert await pipe.execute("PING") == b"PONG"


async def test_scripts_are_loaded_again_after_redis_forgot_them(
    pipe: CommandPipe, redis: Redis
) -> None:
    await redis.script_flush()
    assert await pipe.script(ECHO_KEYS, ["k"], ["alone"]) == [b"k", b"alone"]
    await redis.script_flush()
    replies = await asyncio.gather(*(pipe.script(ECHO_KEYS, [f"k{i}"], [i]) for i in range(20)))
    assert replies == [[f"k{i}".encode(), str(i).encode()] for i in range(20)]


async def test_a_caller_that_gives_up_leaves_the_others_their_replies(
    pipe: CommandPipe, redis: Redis
) -> None:
    slow, counter = key(), key()
    waiting = asyncio.ensure_future(pipe.execute("BLPOP", slow, 5))
    impatient = asyncio.ensure_future(pipe.execute("INCR", counter))
    patient = asyncio.ensure_future(pipe.execute("INCR", counter))
    await asyncio.sleep(0.05)  # all three written; the INCRs wait behind the BLPOP
    impatient.cancel()
    await redis.rpush(slow, "go")
    assert await waiting == [slow.encode(), b"go"]
    assert await patient == 2  # the given-up INCR ran; its reply went to nobody


async def test_close_waits_for_the_commands_under_way(redis_url: str, redis: Redis) -> None:
    async with pipe_to(redis_url) as commands:
        slow = key()
        waiting = asyncio.ensure_future(commands.execute("BLPOP", slow, 5))
        await asyncio.sleep(0.05)
        closing = asyncio.ensure_future(commands.close())
        await asyncio.sleep(0.05)
        assert not closing.done()
        await redis.rpush(slow, "go")
        await closing
        assert await waiting == [slow.encode(), b"go"]
        with pytest.raises(RedisConnectionError, match="closed"):
            await commands.execute("PING")


async def test_a_command_in_flight_on_a_lost_connection_is_sent_once_more(
    restartable_redis: RedisServer, admin: Redis
) -> None:
    async with pipe_to(restartable_redis.url) as commands:
        items = key()
        waiting = asyncio.ensure_future(commands.execute("BLPOP", items, 5))
        await asyncio.sleep(0.05)
        assert await admin.client_kill_filter(_type="normal", skipme=True) == 1
        await asyncio.sleep(0.05)  # the pipe reconnected and sent the BLPOP again
        await admin.rpush(items, "after the loss")
        assert await waiting == [items.encode(), b"after the loss"]
        assert await commands.execute("PING") == b"PONG"


async def test_a_command_is_sent_again_only_once(
    restartable_redis: RedisServer, admin: Redis
) -> None:
    async with pipe_to(restartable_redis.url) as commands:
        waiting = asyncio.ensure_future(commands.execute("BLPOP", key(), 5))
        for _ in range(2):
            await asyncio.sleep(0.05)
            assert await admin.client_kill_filter(_type="normal", skipme=True) == 1
        with pytest.raises(RedisConnectionError, match="lost"):
            await waiting
        assert await commands.execute("PING") == b"PONG"  # and the next one connects


async def test_redis_gone_fails_commands_at_once(restartable_redis: RedisServer) -> None:
    async with pipe_to(restartable_redis.url) as commands:
        assert await commands.execute("PING") == b"PONG"
        restartable_redis.stop()
        began = time.monotonic()
        with pytest.raises(RedisConnectionError, match="Error 111 connecting"):  # refused
            await commands.execute("PING")
        assert time.monotonic() - began < 0.5
        restartable_redis.start()
        assert await commands.execute("PING") == b"PONG"


async def test_a_connection_that_stops_answering_fails_its_commands_within_the_timeout(
    restartable_redis: RedisServer, admin: Redis
) -> None:
    async with pipe_to(restartable_redis.url, timeout=0.3) as commands:
        assert await commands.execute("PING") == b"PONG"
        await admin.execute_command("CLIENT", "PAUSE", 1000, "ALL")  # a frozen server
        began = time.monotonic()
        with pytest.raises(TimeoutError, match=r"no answer within 0\.3 s"):
            await commands.execute("PING")
        assert 0.25 < time.monotonic() - began < 0.6
        await asyncio.sleep(0.8)  # the pause ends; the next command opens a new connection
        assert await commands.execute("PING") == b"PONG"
