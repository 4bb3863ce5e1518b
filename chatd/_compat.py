"""The one place chatd reaches past other libraries' public APIs.

Each function below wraps one private attribute, says why nothing public does
the job, and is checked against the installed version by
tests/unit/test_compat.py, so an upgrade that renames or removes it fails
there, loudly and by name, instead of deep inside a socket or the Redis pipe.
pyproject.toml bounds each of these libraries below its next major version.
Nothing here imports the libraries at run time: embedded mode never loads
redis, and a function is only called with an object of its library.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aiohttp.base_protocol import BaseProtocol
    from redis.asyncio.connection import AbstractConnection


async def wait_until_writable(protocol: BaseProtocol) -> None:
    """aiohttp: wait until a transport that paused writing (its kernel and
    transport buffers full) takes data again.

    asyncio tells the protocol (pause_writing/resume_writing); aiohttp's
    BaseProtocol keeps the waiter in `_drain_helper`, and only its own writers
    await it. A socket's writer task (chatd.connection) writes already-framed
    bytes to the transport itself, so it waits on the same helper.
    """
    await protocol._drain_helper()


def redis_stream_writer(connection: AbstractConnection) -> asyncio.StreamWriter:
    """redis-py: the open connection's stream writer.

    redis-py only writes through `send_packed_command`, which awaits the
    write; the command pipe (chatd.broker.redis_pipe) packs every command of a
    loop tick into one buffer and writes it without awaiting, which keeps
    commands in issue order without a task per tick.
    """
    writer = connection._writer
    if writer is None:
        raise ConnectionError("the redis connection is not open")
    return writer
