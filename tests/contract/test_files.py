"""The FileStore contract, run against every adapter (local disk and real S3 via moto)."""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from chatd.files.base import FileStore, FileStoreUnavailable, FileTooLarge, content_disposition
from chatd.files.local import LocalFileStore
from chatd.files.s3 import PART_SIZE, S3FileStore
from tests.fixtures.s3 import (
    S3_ACCESS_KEY_ID,
    S3_REGION,
    S3_SECRET_ACCESS_KEY,
    create_test_bucket,
    open_s3_client,
)

MiB = 1024 * 1024

Leftovers = Callable[[], Awaitable[list[str]]]


def payload(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


async def stream(data: bytes, chunk: int = 64 * 1024) -> AsyncIterator[bytes]:
    """Yields `data` the way an HTTP upload arrives: many small chunks."""
    for start in range(0, len(data), chunk):
        yield data[start : start + chunk]


def tree(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


async def read_all(store: FileStore, key: str) -> bytes:
    return b"".join([chunk async for chunk in store.open(key)])


def s3_store(endpoint: str, bucket: str) -> S3FileStore:
    return S3FileStore(
        bucket,
        endpoint_url=endpoint,
        region=S3_REGION,
        access_key_id=S3_ACCESS_KEY_ID,
        secret_access_key=S3_SECRET_ACCESS_KEY,
    )


@dataclass
class Env:
    """One adapter under test plus what a test needs to look behind it."""

    store: FileStore
    leftovers: Leftovers
    s3: Any = None  # a plain S3 client on the same bucket (S3 only)
    bucket: str = ""


@pytest.fixture(params=["local", "s3"])
async def env(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Env]:
    async with AsyncExitStack() as stack:
        if request.param == "local":
            root = tmp_path / "files"
            adapter: LocalFileStore | S3FileStore = LocalFileStore(root)

            async def local_leftovers() -> list[str]:
                # Temporary upload files count: a failed upload must not leave them.
                return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())

            result = Env(adapter, local_leftovers)
        else:
            endpoint = request.getfixturevalue("s3_endpoint")
            client = await stack.enter_async_context(open_s3_client(endpoint))
            bucket = await create_test_bucket(client)
            adapter = s3_store(endpoint, bucket)

            async def s3_leftovers() -> list[str]:
                # Unfinished multipart uploads count: they are billed storage.
                objects = await client.list_objects_v2(Bucket=bucket)
                uploads = await client.list_multipart_uploads(Bucket=bucket)
                return sorted(
                    [o["Key"] for o in objects.get("Contents", [])]
                    + [f"upload:{u['Key']}" for u in uploads.get("Uploads", [])]
                )

            result = Env(adapter, s3_leftovers, client, bucket)
        await adapter.start()
        stack.push_async_callback(adapter.close)
        yield result


@pytest.fixture
def backend(env: Env) -> str:
    return "local" if isinstance(env.store, LocalFileStore) else "s3"


@pytest.fixture
def store(env: Env) -> FileStore:
    return env.store


@pytest.fixture
def leftovers(env: Env) -> Leftovers:
    return env.leftovers


async def test_put_then_open_round_trips(store: FileStore) -> None:
    data = payload(300_000)
    stored = await store.put("room1/f1/photo.jpg", stream(data), "image/jpeg", 10 * MiB)
    assert stored.key == "room1/f1/photo.jpg"
    assert stored.size == len(data)
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert await read_all(store, "room1/f1/photo.jpg") == data
    assert await store.size("room1/f1/photo.jpg") == len(data)


async def test_empty_file(store: FileStore, leftovers: Leftovers) -> None:
    stored = await store.put("empty", stream(b""), "text/plain", 10)
    assert (stored.size, stored.sha256) == (0, hashlib.sha256(b"").hexdigest())
    assert await read_all(store, "empty") == b""
    assert await store.size("empty") == 0
    assert await leftovers() == ["empty"]


async def test_exactly_the_limit_is_accepted(store: FileStore) -> None:
    stored = await store.put("k", stream(b"x" * 1000, chunk=7), "text/plain", 1000)
    assert stored.size == 1000


async def test_put_replaces_an_existing_key(store: FileStore) -> None:
    await store.put("k", stream(b"old"), "text/plain", 100)
    await store.put("k", stream(b"new content"), "text/plain", 100)
    assert await read_all(store, "k") == b"new content"


async def test_large_upload_round_trips(store: FileStore, env: Env, leftovers: Leftovers) -> None:
    data = payload(2 * PART_SIZE + 12345, seed=1)  # S3: three parts, the last one short
    stored = await store.put("big.bin", stream(data, chunk=256 * 1024), "video/mp4", 64 * MiB)
    assert stored.size == len(data)
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    got = await read_all(store, "big.bin")
    assert hashlib.sha256(got).hexdigest() == stored.sha256
    assert await store.size("big.bin") == len(data)
    assert await leftovers() == ["big.bin"]
    if env.s3 is not None:
        head = await env.s3.head_object(Bucket=env.bucket, Key="big.bin")
        assert head["ETag"].strip('"').endswith("-3")  # went up as a 3-part upload
        assert head["ContentType"] == "video/mp4"


async def test_missing_keys(store: FileStore) -> None:
    with pytest.raises(FileNotFoundError):
        await read_all(store, "nope")
    assert await store.size("nope") is None
    await store.delete("nope")  # deleting a missing key is fine


async def test_delete(store: FileStore, leftovers: Leftovers) -> None:
    await store.put("a/b", stream(b"data"), "text/plain", 100)
    await store.delete("a/b")
    with pytest.raises(FileNotFoundError):
        await read_all(store, "a/b")
    assert await store.size("a/b") is None
    assert await leftovers() == []


async def test_too_large_keeps_nothing(store: FileStore, leftovers: Leftovers) -> None:
    with pytest.raises(FileTooLarge) as info:
        await store.put("k", stream(payload(1500), chunk=100), "text/plain", 1000)
    assert info.value.limit == 1000
    assert await store.size("k") is None
    assert await leftovers() == []


async def test_too_large_after_parts_were_uploaded_keeps_nothing(
    store: FileStore, leftovers: Leftovers
) -> None:
    # On S3 the first 8 MiB part is already up when the limit is crossed.
    with pytest.raises(FileTooLarge):
        await store.put("k", stream(payload(12 * MiB), chunk=MiB), "video/mp4", 10 * MiB)
    assert await store.size("k") is None
    assert await leftovers() == []


async def test_failed_stream_keeps_nothing_and_the_old_file(
    store: FileStore, leftovers: Leftovers
) -> None:
    await store.put("k", stream(b"previous"), "text/plain", 100)

    async def broken() -> AsyncIterator[bytes]:
        yield payload(PART_SIZE + 1)
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        await store.put("k", broken(), "text/plain", 64 * MiB)
    assert await read_all(store, "k") == b"previous"
    assert await leftovers() == ["k"]


async def test_open_streams_in_chunks(store: FileStore) -> None:
    data = payload(3 * MiB, seed=2)
    await store.put("k", stream(data), "application/octet-stream", 10 * MiB)
    chunks = [chunk async for chunk in store.open("k")]
    assert len(chunks) > 1
    assert max(len(c) for c in chunks) <= MiB
    assert b"".join(chunks) == data


@pytest.mark.parametrize(
    ("offset", "length"),
    [(0, None), (0, 10), (1000, None), (MiB - 3, 7), (MiB + 5, 100_000), (2 * MiB - 1, None)],
)
async def test_open_reads_a_range(store: FileStore, offset: int, length: int | None) -> None:
    data = payload(2 * MiB, seed=4)
    await store.put("k", stream(data), "video/mp4", 10 * MiB)
    got = b"".join([c async for c in store.open("k", offset=offset, length=length)])
    assert got == data[offset : None if length is None else offset + length]


async def test_open_ranges_at_the_edges(store: FileStore) -> None:
    await store.put("k", stream(b"0123456789"), "text/plain", 100)
    assert b"".join([c async for c in store.open("k", offset=8, length=50)]) == b"89"
    assert b"".join([c async for c in store.open("k", offset=10)]) == b""
    assert b"".join([c async for c in store.open("k", offset=3, length=0)]) == b""
    with pytest.raises(FileNotFoundError):
        _ = [c async for c in store.open("missing", offset=3, length=0)]
    with pytest.raises(FileNotFoundError):
        _ = [c async for c in store.open("missing", offset=3)]


async def test_download_origin(store: FileStore, backend: str, env: Env) -> None:
    origin = await store.download_origin()
    if backend == "local":
        assert origin is None
    else:
        assert origin is not None and origin.startswith("http://127.0.0.1:")
        assert "/" not in origin.removeprefix("http://")


async def test_check_passes(store: FileStore) -> None:
    await store.check()


async def test_download_url(store: FileStore, backend: str) -> None:
    data = payload(5000, seed=3)
    await store.put("r/f/cv.pdf", stream(data), "application/pdf", 10_000)
    name = 'résumé "final".pdf'
    url = await store.download_url(
        "r/f/cv.pdf", filename=name, content_type="application/pdf", inline=False, expires=60
    )
    if backend == "local":
        assert url is None  # chatd serves local files itself
        return
    assert url is not None
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        assert response.status == 200
        assert await response.read() == data
        assert response.headers["Content-Disposition"] == content_disposition(name, inline=False)
        assert response.headers["Content-Type"] == "application/pdf"
    inline_url = await store.download_url(
        "r/f/cv.pdf", filename="cv.pdf", content_type="application/pdf", inline=True, expires=60
    )
    assert inline_url is not None
    async with aiohttp.ClientSession() as http, http.get(inline_url) as response:
        assert response.headers["Content-Disposition"].startswith('inline; filename="cv.pdf"')


# -- adapter specifics -----------------------------------------------------------
@pytest.mark.parametrize(
    "key", ["../escape", "a/../../escape", "/etc/passwd", "a//b", "./a", "a\\..\\b", ""]
)
async def test_local_refuses_keys_outside_the_root(tmp_path: Path, key: str) -> None:
    store = LocalFileStore(tmp_path / "files")
    await store.start()
    with pytest.raises(ValueError, match="unsafe file key"):
        await store.put(key, stream(b"x"), "text/plain", 10)
    with pytest.raises(ValueError, match="unsafe file key"):
        await store.size(key)
    assert tree(tmp_path) == ["files"]  # nothing written anywhere


async def test_local_check_fails_on_an_unusable_root(tmp_path: Path) -> None:
    (tmp_path / "not-a-dir").write_bytes(b"")
    store = LocalFileStore(tmp_path / "not-a-dir")
    with pytest.raises(FileStoreUnavailable, match="not a writable directory"):
        await store.check()


async def test_s3_check_reports_a_missing_bucket(s3_endpoint: str) -> None:
    store = s3_store(s3_endpoint, "no-such-bucket-here")
    await store.start()
    try:
        with pytest.raises(FileStoreUnavailable, match="bucket does not exist"):
            await store.check()
    finally:
        await store.close()


async def test_s3_check_reports_an_unreachable_endpoint() -> None:
    store = s3_store("http://127.0.0.1:1", "bucket")
    await store.start()
    began = time.monotonic()
    try:
        with pytest.raises(
            FileStoreUnavailable, match=r"at http://127\.0\.0\.1:1: connection refused"
        ):
            await store.check()
    finally:
        await store.close()
    assert time.monotonic() - began < 3  # health checks do not retry


async def test_s3_ensure_bucket_creates_it_once(s3_endpoint: str, s3_client: Any) -> None:
    store = s3_store(s3_endpoint, "chatd-ensure-bucket")
    await store.start()
    try:
        await store.ensure_bucket()
        await store.ensure_bucket()
        await store.check()
    finally:
        await store.close()
        await s3_client.delete_bucket(Bucket="chatd-ensure-bucket")
