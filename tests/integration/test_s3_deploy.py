"""S3 as deployments meet it: an endpoint browsers cannot reach, a bucket not made yet.

All on moto's server. Its public origin is the same server under another host
name (`localhost` for chatd's `127.0.0.1`): a URL signed for the wrong host
would point browsers at an address they cannot reach in a real deployment.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest

from chatd.files.s3 import BucketMissing, S3FileStore
from tests.fixtures.app import TEST_SECRET
from tests.fixtures.s3 import S3_ACCESS_KEY_ID, S3_REGION, S3_SECRET_ACCESS_KEY


def public_origin(endpoint: str) -> str:
    """The moto server under the host name `localhost`: same server, another origin."""
    return f"http://localhost:{urlsplit(endpoint).port}"


def s3_store(bucket: str, endpoint: str, **options: Any) -> S3FileStore:
    return S3FileStore(
        bucket,
        endpoint_url=endpoint,
        region=S3_REGION,
        access_key_id=S3_ACCESS_KEY_ID,
        secret_access_key=S3_SECRET_ACCESS_KEY,
        **options,
    )


async def one_chunk(data: bytes) -> Any:
    yield data


async def test_presigned_urls_point_at_the_public_endpoint_and_work_there(
    s3_endpoint: str, s3_bucket: str
) -> None:
    public = public_origin(s3_endpoint)
    store = s3_store(s3_bucket, s3_endpoint, public_endpoint_url=public)
    await store.start()
    try:
        await store.put("r/f/a.txt", one_chunk(b"hello through the public host"), "text/plain", 100)
        url = await store.download_url(
            "r/f/a.txt", filename="a.txt", content_type="text/plain", inline=False, expires=60
        )
        assert url is not None and url.startswith(public + "/")
        assert await store.download_origin() == public
        async with aiohttp.ClientSession() as http, http.get(url) as response:
            assert response.status == 200
            assert await response.read() == b"hello through the public host"
            assert response.headers["Content-Type"] == "text/plain"
    finally:
        await store.close()


async def test_the_web_clients_policy_allows_the_public_endpoint(
    start_server: Any, s3_env: dict[str, str], s3_endpoint: str
) -> None:
    public = public_origin(s3_endpoint)
    base = await start_server(files="s3", S3_PUBLIC_ENDPOINT_URL=public)
    async with aiohttp.ClientSession() as http, http.get(base) as response:
        policy = response.headers["Content-Security-Policy"]
    img_src = next(p for p in policy.split("; ") if p.startswith("img-src"))
    assert public in img_src and s3_endpoint not in img_src


async def test_the_bucket_is_created_at_start_up_when_asked(
    s3_endpoint: str, s3_client: Any
) -> None:
    bucket = f"chatd-create-{uuid.uuid4().hex[:12]}"
    store = s3_store(bucket, s3_endpoint)
    await store.start()
    try:
        await store.prepare_bucket(create=True)
        await store.check()
        await store.prepare_bucket(create=True)  # an existing bucket is left alone
    finally:
        await store.close()
    names = [b["Name"] for b in (await s3_client.list_buckets())["Buckets"]]
    assert bucket in names


async def test_a_missing_bucket_is_a_clear_error_when_not_asked_to_create_it(
    s3_endpoint: str, s3_client: Any
) -> None:
    bucket = f"chatd-missing-{uuid.uuid4().hex[:12]}"
    store = s3_store(bucket, s3_endpoint)
    await store.start()
    try:
        with pytest.raises(BucketMissing) as raised:
            await store.prepare_bucket(create=False)
    finally:
        await store.close()
    assert raised.value.variable == "S3_BUCKET"
    assert "S3_CREATE_BUCKET=true" in str(raised.value) and "\n" not in str(raised.value)
    names = [b["Name"] for b in (await s3_client.list_buckets())["Buckets"]]
    assert bucket not in names


def run_chatd(tmp_path: Path, s3_endpoint: str, bucket: str, **env: str) -> subprocess.Popen[str]:
    environ = {
        "PATH": "/usr/bin:/bin",
        "CHATD_DATA_DIR": str(tmp_path / "data"),
        "CHATD_SECRET_KEY": TEST_SECRET,
        "S3_BUCKET": bucket,
        "S3_ENDPOINT_URL": s3_endpoint,
        "AWS_ACCESS_KEY_ID": S3_ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": S3_SECRET_ACCESS_KEY,
        "AWS_REGION": S3_REGION,
        **env,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "chatd", "--port", "0"],
        env=environ,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
def test_chatd_refuses_to_start_on_a_missing_bucket_with_one_line(
    tmp_path: Path, s3_endpoint: str
) -> None:
    bucket = f"chatd-missing-{uuid.uuid4().hex[:12]}"
    proc = run_chatd(tmp_path, s3_endpoint, bucket)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert "Traceback" not in err and " ERROR " not in err, err
    # The log lines of the start-up before it, then this one line, last.
    assert err.strip().splitlines()[-1:] == [
        f"chatd: configuration error: S3_BUCKET: bucket {bucket!r} does not exist at "
        f"{s3_endpoint}; create it, or set S3_CREATE_BUCKET=true to have chatd create it "
        "at start-up"
    ]
