"""Every adapter reports an outage in port terms: `Unavailable` or `StorageFull`.

The edges (REST middleware, frame router, WebSocket handshake) map only these
two, so each adapter must translate its driver's errors. Faults are real: a
stopped redis-server or nx-27017, a tmpfs filled to the last byte, an S3
endpoint nobody listens on.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from chatd.broker.redis import RedisBroker
from chatd.errors import StorageFull, Unavailable
from chatd.files.local import LocalFileStore
from chatd.files.s3 import S3FileStore
from chatd.models import NewMessage, Room, RoomKind
from chatd.store.mongo import MongoStore
from chatd.store.sqlite import SqliteStore
from chatd.util.clock import now_ms
from tests.fixtures.disk import SmallDisk
from tests.fixtures.mongo import NxMongoServer, fresh_db_name
from tests.fixtures.redis import RedisServer, free_port
from tests.fixtures.s3 import S3_ACCESS_KEY_ID, S3_REGION, S3_SECRET_ACCESS_KEY


async def chunks(data: bytes) -> AsyncIterator[bytes]:
    yield data


def general() -> Room:
    return Room(
        id="general", name="General", kind=RoomKind.PUBLIC, created_by=None, created_at=now_ms()
    )


async def test_sqlite_on_a_full_disk_raises_storage_full_and_still_reads(
    small_disk: SmallDisk,
) -> None:
    store = await SqliteStore.open(small_disk.path / "chatd.db")
    try:
        await store.create_room(general())
        alice = await store.create_user("alice", "hash")
        small_disk.fill()

        with pytest.raises(StorageFull) as full:
            # SQLite may still fit a few in pages it already holds.
            for i in range(200):
                text = f"{i} " + "x" * 4000
                await store.append_message(NewMessage("general", alice.id, "alice", text))
        assert full.value.backend == "store"
        with pytest.raises(StorageFull):
            await store.check()
        assert await store.get_user(alice.id) == alice

        small_disk.free()
        await store.check()
        message, _ = await store.append_message(NewMessage("general", alice.id, "alice", "ok"))
        assert message.text == "ok"
    finally:
        small_disk.free()
        await store.close()


async def test_mongo_stopped_raises_unavailable(restartable_mongo: NxMongoServer) -> None:
    store = await MongoStore.open(restartable_mongo.uri, fresh_db_name())
    try:
        alice = await store.create_user("alice", "hash")
        restartable_mongo.stop()

        with pytest.raises(Unavailable) as down:
            await store.get_user(alice.id)
        assert down.value.backend == "store"
        with pytest.raises(Unavailable):
            await store.create_user("bob", "hash")
    finally:
        await store.close()


async def test_redis_stopped_raises_unavailable(restartable_redis: RedisServer) -> None:
    broker = RedisBroker(restartable_redis.url, "test:outage:")
    await broker.start()
    try:
        assert await broker.incr("counter", 60) == 1
        restartable_redis.stop()

        for call in (
            lambda: broker.get_counter("counter"),
            lambda: broker.incr("counter", 60),
            lambda: broker.publish("room:general:channel", b"x"),
        ):
            with pytest.raises(Unavailable) as down:
                await call()
            assert down.value.backend == "broker"
    finally:
        await broker.close()


async def test_local_files_on_a_full_disk_raise_storage_full_and_keep_nothing(
    small_disk: SmallDisk,
) -> None:
    files = LocalFileStore(small_disk.path / "files")
    await files.start()
    small_disk.fill()

    with pytest.raises(StorageFull) as full:
        await files.put("room/msg/0", chunks(bytes(256 * 1024)), "text/plain", 10**9)
    assert full.value.backend == "files"
    with pytest.raises(StorageFull):
        await files.check()
    assert await files.size("room/msg/0") is None
    assert list((small_disk.path / "files").rglob("*.part")) == []


async def test_s3_unreachable_raises_unavailable() -> None:
    files = S3FileStore(
        "chatd-test",
        endpoint_url=f"http://127.0.0.1:{free_port()}",
        region=S3_REGION,
        access_key_id=S3_ACCESS_KEY_ID,
        secret_access_key=S3_SECRET_ACCESS_KEY,
    )
    await files.start()
    try:
        with pytest.raises(Unavailable) as down:
            await files.put("room/msg/0", chunks(b"hello"), "text/plain", 10**6)
        assert down.value.backend == "files"
        with pytest.raises(Unavailable):
            await files.size("room/msg/0")
    finally:
        await files.close()
