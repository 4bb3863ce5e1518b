"""The private attributes chatd/_compat.py relies on still do what it assumes.

One test per fenced use, against the installed library: an upgrade that
renames, removes or changes one fails here, naming it, before anything else.
"""

from __future__ import annotations

import asyncio

from aiohttp.base_protocol import BaseProtocol
from redis.asyncio.connection import Connection as RedisConnection

from chatd import _compat
from tests.fixtures.redis import RedisServer


async def test_aiohttp_protocol_wait_returns_only_once_writing_resumes():
    protocol = BaseProtocol(asyncio.get_running_loop())
    server = await asyncio.start_server(lambda reader, writer: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    transport, _ = await asyncio.get_running_loop().create_connection(
        lambda: protocol, "127.0.0.1", port
    )
    try:
        protocol.pause_writing()
        waiting = asyncio.create_task(_compat.wait_until_writable(protocol))
        await asyncio.sleep(0.01)
        assert not waiting.done()
        protocol.resume_writing()
        await asyncio.wait_for(waiting, 1)
    finally:
        transport.close()
        server.close()


async def test_redis_connection_exposes_the_stream_it_writes_to(redis_server: RedisServer):
    connection = RedisConnection(host="127.0.0.1", port=redis_server.port)
    try:
        await connection.connect()
        writer = _compat.redis_stream_writer(connection)
        assert isinstance(writer, asyncio.StreamWriter)
        writer.write(connection.pack_command("PING")[0])
        assert await connection.read_response() == b"PONG"
    finally:
        await connection.disconnect()
