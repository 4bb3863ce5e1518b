"""File sharing over real sockets: uploads, live delivery, member-only downloads, hostile files.

The end-to-end flow runs on both FileStore adapters (local disk and S3 on a
moto server) across two nodes sharing Redis; the rules that do not depend on
the adapter run on one embedded node.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from PIL import Image
from yarl import URL

from chatd.files.base import FileStore
from chatd.files.local import LocalFileStore
from chatd.files.s3 import S3FileStore
from chatd.models import Message
from chatd.settings import Settings
from chatd.store.factory import open_store
from tests import images
from tests.client import ChatClient, unique_name
from tests.fixtures.s3 import open_s3_client

MiB = 1024 * 1024

FILE_CSP = "default-src 'none'; sandbox"


# -- helpers -------------------------------------------------------------------------
FilePart = tuple[str, Any, str]  # (file name, bytes or async iterable, declared type)


async def upload(
    client: ChatClient,
    room: str,
    files: list[FilePart],
    **fields: str,
) -> tuple[int, Any, aiohttp.ClientResponse]:
    # Names go out raw, as browsers send them (aiohttp would percent-encode them).
    form = aiohttp.FormData(default_to_multipart=True, quote_fields=False)
    for name, data, declared in files:
        form.add_field("file", data, filename=name, content_type=declared)
    for field, value in fields.items():
        form.add_field(field, value)
    return await client.call("POST", f"/api/rooms/{room}/files", data=form)


async def fetch(
    client: ChatClient, path: str, *, bearer: bool = True, **kw: Any
) -> tuple[int, bytes, aiohttp.ClientResponse]:
    """GET a /files URL with the bearer header, or with only the client's cookies."""
    headers = dict(kw.pop("headers", {}))
    if bearer and client.token:
        headers["Authorization"] = f"Bearer {client.token}"
    async with client.session.get(client.base_url + path, headers=headers, **kw) as response:
        return response.status, await response.read(), response


async def files_session(client: ChatClient) -> None:
    status, _, _ = await client.call("POST", "/api/files/session")
    assert status == 204


async def private_room(owner: ChatClient, *members: ChatClient) -> str:
    status, body, _ = await owner.call(
        "POST", "/api/rooms", json_body={"name": unique_name("files-"), "private": True}
    )
    assert status == 201, body
    room = body["room"]["id"]
    for member in members:
        assert member.user is not None
        status, _, _ = await owner.call(
            "POST", f"/api/rooms/{room}/members", json_body={"username": member.user["username"]}
        )
        assert status == 204
    return room


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@asynccontextmanager
async def file_store_of(settings: Settings) -> AsyncIterator[FileStore]:
    """A second handle on a node's file store: what issue 5's message deletion uses."""
    if settings.s3_bucket:
        s3 = S3FileStore(
            settings.s3_bucket,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.aws_region,
            access_key_id=settings.aws_access_key_id,
            secret_access_key=settings.aws_secret_access_key,
        )
        await s3.start()
        try:
            yield s3
        finally:
            await s3.close()
    else:
        yield LocalFileStore(settings.files_dir)


async def stored_message(settings: Settings, room: str, message_id: str) -> Message:
    async with open_store(settings) as store:
        message = await store.get_message(room, message_id)
    assert message is not None
    return message


def stored_files(settings: Settings) -> list[str]:
    root = settings.files_dir
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


async def stored_objects(settings: Settings) -> list[str]:
    """Every object (and unfinished multipart upload) in the node's file store."""
    if not settings.s3_bucket:
        return stored_files(settings)
    assert settings.s3_endpoint_url is not None
    async with open_s3_client(settings.s3_endpoint_url) as client:
        objects = await client.list_objects_v2(Bucket=settings.s3_bucket)
        uploads = await client.list_multipart_uploads(Bucket=settings.s3_bucket)
    return sorted(
        [o["Key"] for o in objects.get("Contents", [])]
        + [f"upload:{u['Key']}" for u in uploads.get("Uploads", [])]
    )


def rss_bytes() -> int:
    """This process's resident memory right now (the server runs in it)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


# -- fixtures ------------------------------------------------------------------------
@pytest.fixture
async def clients():
    made: list[ChatClient] = []

    async def make(base_url: str, *, connect: bool = False) -> ChatClient:
        client = ChatClient(base_url)
        made.append(client)
        await client.register()
        if connect:
            await client.connect()
        return client

    yield make
    for client in made:
        await client.close()


@pytest.fixture(params=["local", "s3"])
def files(request: pytest.FixtureRequest) -> str:
    """Each FileStore adapter; S3's bucket is made here, before the test's loop runs."""
    if request.param == "s3":
        request.getfixturevalue("s3_env")
    return str(request.param)


@pytest.fixture
async def node(make_settings, start_server):
    """One embedded node (SQLite, in-process broker, local files unless told) and its settings."""

    async def start(*, files: str = "local", **env: str) -> tuple[str, Settings]:
        settings = make_settings(files=files, **env)
        return await start_server(settings=settings), settings

    return start


# -- the whole flow, on both adapters and two nodes ------------------------------------
async def test_upload_delivers_live_on_two_nodes_and_serves_members_only(
    files, make_settings, start_server, clients
):
    settings = make_settings(broker="redis", files=files)
    node_a = await start_server(settings=settings)
    node_b = await start_server(settings=settings)
    alice = await clients(node_a, connect=True)
    bob = await clients(node_b, connect=True)
    carol = await clients(node_b)
    room = await private_room(alice, bob)
    await bob.expect("joined", timeout=5)

    photo = images.jpeg_with_exif(640, 480, orientation=1)
    blob = random.Random(1).randbytes(3 * MiB + 17)  # S3: a single PUT; local: 3 write slices
    status, body, _ = await upload(
        alice,
        room,
        [("holiday.jpg", photo, "image/jpeg"), ("data.bin", blob, "application/octet-stream")],
        text="from the beach",
    )
    assert status == 201, body
    sent = body["message"]
    assert sent["messageType"] == "file" and sent["text"] == "from the beach"
    assert sent["fileName"] == "holiday.jpg" and sent["fileType"] == "image/jpeg"
    assert sent["fileSize"] == len(photo) and sent["fileUrl"] == f"/files/{room}/{sent['id']}/0"
    first, second = sent["files"]
    assert (first["width"], first["height"]) == (640, 480)
    assert first["thumbUrl"] == first["url"] + "/thumb" and "icon" not in first
    assert second == {
        "url": f"/files/{room}/{sent['id']}/1",
        "name": "data.bin",
        "size": len(blob),
        "type": "application/octet-stream",
        "icon": "other",
    }

    # Live on both nodes, like any message (the test client checks the schema).
    for client in (alice, bob):
        live = await client.expect("message", room=room, id=sent["id"])
        assert live == sent

    # A member downloads identical bytes: bearer on node A, the cookie on node B.
    await files_session(bob)
    for client, bearer in ((alice, True), (bob, False)):
        for part, data in ((first, photo), (second, blob)):
            got = await download(client, part["url"], bearer=bearer, s3=files == "s3")
            assert sha(got) == sha(data)
        thumb = await download(client, first["thumbUrl"], bearer=bearer, s3=files == "s3")
        with Image.open(io.BytesIO(thumb)) as image:
            assert image.format == "WEBP" and max(image.size) == 400

    # Everyone else: 404, exactly as for a file that does not exist.
    await files_session(carol)
    for path in (first["url"], first["thumbUrl"], second["url"], f"/files/{room}/nope/0"):
        assert (await fetch(carol, path))[0] == 404
        assert (await fetch(carol, path, bearer=False))[0] == 404
    async with aiohttp.ClientSession() as anonymous, anonymous.get(node_a + first["url"][1:]) as r:
        assert r.status == 404
    assert (await upload(carol, room, [("x.txt", b"x", "text/plain")]))[0] == 404

    # Deleting the stored objects (what deleting the message does) ends the URLs.
    message = await stored_message(settings, room, sent["id"])
    async with file_store_of(settings) as store:
        for attachment in message.attachments:
            await store.delete(attachment.key)
            if attachment.thumbnail_key:
                await store.delete(attachment.thumbnail_key)
            assert await store.size(attachment.key) is None
    for path in (first["url"], first["thumbUrl"], second["url"]):
        assert (await fetch(alice, path, allow_redirects=False))[0] == 404
    if files == "local":
        assert stored_files(settings) == []


async def download(client: ChatClient, path: str, *, bearer: bool, s3: bool) -> bytes:
    """A member's download: the bytes, or (S3) the presigned redirect followed by hand."""
    status, data, response = await fetch(client, path, bearer=bearer, allow_redirects=False)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Security-Policy"] == FILE_CSP
    assert response.headers["Cache-Control"].startswith("private")
    if not s3:
        assert status == 200
        return data
    assert status == 302
    location = response.headers["Location"]
    assert location.startswith("http://127.0.0.1:") and "X-Amz-Expires=60" in location
    # Nothing of chatd's goes to S3: a fresh session, no cookie, no bearer.
    async with aiohttp.ClientSession() as outside, outside.get(location) as presigned:
        assert presigned.status == 200
        return await presigned.read()


async def test_with_s3_the_web_client_may_load_media_from_the_bucket(start_server, s3_env):
    base = await start_server(files="s3")
    async with aiohttp.ClientSession() as http, http.get(base) as response:
        policy = response.headers["Content-Security-Policy"]
    img_src = next(p for p in policy.split("; ") if p.startswith("img-src"))
    assert "http://127.0.0.1:" in img_src and "script-src 'self'" in policy


# -- size limits and memory ------------------------------------------------------------
async def test_a_100_mb_upload_over_a_25_mb_limit_is_refused_without_buffering(node, clients):
    base, settings = await node()
    assert settings.max_upload_bytes == 25 * MiB
    alice = await clients(base)
    sent_bytes = 0

    async def hundred_megabytes() -> AsyncIterator[bytes]:
        nonlocal sent_bytes
        chunk = random.Random(2).randbytes(MiB)
        for _ in range(100):
            sent_bytes += len(chunk)
            yield chunk

    baseline = rss_bytes()
    peak = baseline
    done = asyncio.Event()

    async def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, rss_bytes())
            await asyncio.sleep(0.01)

    sampler = asyncio.create_task(sample())
    try:
        status, body, _ = await upload(
            alice, "general", [("huge.bin", hundred_megabytes(), "application/octet-stream")]
        )
    finally:
        done.set()
        await sampler
    assert status == 413, body
    assert body["error"]["code"] == "too_large"
    assert peak - baseline < 40 * MiB, f"memory grew by {(peak - baseline) / MiB:.0f} MiB"
    assert sent_bytes < 100 * MiB, "refused while the body was still arriving"
    assert stored_files(settings) == []


async def test_a_declared_length_beyond_any_valid_upload_is_refused_before_the_body(node, clients):
    base, _ = await node(CHATD_MAX_UPLOAD_BYTES="1000")
    alice = await clients(base)
    url = URL(base)
    reader, writer = await asyncio.open_connection(url.host, url.port)
    try:
        writer.write(
            (
                "POST /api/rooms/general/files HTTP/1.1\r\n"
                f"Host: {url.host}:{url.port}\r\n"
                f"Authorization: Bearer {alice.token}\r\n"
                "Content-Type: multipart/form-data; boundary=xyz\r\n"
                f"Content-Length: {10**12}\r\n\r\n"
            ).encode()
        )
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 5)  # not one body byte sent
        assert status_line.split()[1] == b"413"
    finally:
        writer.close()


async def test_a_file_just_over_the_limit_is_refused_and_nothing_is_kept(files, node, clients):
    base, settings = await node(files=files, CHATD_MAX_UPLOAD_BYTES=str(9 * MiB))
    alice = await clients(base)
    ok, _, _ = await upload(alice, "general", [("fits.bin", b"\x01" * 9 * MiB, "x/y")])
    assert ok == 201
    kept = await stored_objects(settings)
    assert len(kept) == 1
    status, body, _ = await upload(
        alice,
        "general",
        [
            ("photo.png", images.png(), "image/png"),  # stored with its thumbnail...
            ("big.bin", b"\x03" * (9 * MiB + 1), "x/y"),  # S3: one 8 MiB part already up
        ],
    )
    assert status == 413 and "file 2" in body["error"]["message"]
    assert await stored_objects(settings) == kept  # ...and gone again, with the partial upload


async def test_a_client_hanging_up_mid_upload_leaves_nothing(node, clients):
    base, settings = await node()
    alice = await clients(base)
    url = URL(base)
    _, writer = await asyncio.open_connection(url.host, url.port)
    head = (
        b'--zz\r\nContent-Disposition: form-data; name="file"; filename="cut.bin"\r\n'
        b"Content-Type: application/octet-stream\r\n\r\n"
    )
    writer.write(
        (
            "POST /api/rooms/general/files HTTP/1.1\r\n"
            f"Host: {url.host}:{url.port}\r\n"
            f"Authorization: Bearer {alice.token}\r\n"
            "Content-Type: multipart/form-data; boundary=zz\r\n"
            f"Content-Length: {len(head) + 10 * MiB}\r\n\r\n"
        ).encode()
        + head
        + random.Random(3).randbytes(3 * MiB)
    )
    await writer.drain()
    await until(lambda: any(p.endswith(".part") for p in stored_files(settings)))
    writer.close()  # gone with 7 MiB still to send
    await until(lambda: stored_files(settings) == [])


async def until(condition: Any, timeout: float = 5.0) -> None:
    """Poll for a condition only the server's file system shows (no event to await)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


# -- hostile and invalid uploads ---------------------------------------------------------
async def test_hostile_names_are_neutralized(node, clients):
    base, settings = await node()
    alice = await clients(base)
    long_name = "x" * 10_000 + ".txt"
    status, body, _ = await upload(
        alice,
        "general",
        [
            ("../../etc/passwd", b"root:x:0:0\n", "text/plain"),
            (long_name, b"long\n", "text/plain"),
        ],
    )
    assert status == 201, body
    traversal, long_one = body["message"]["files"]
    assert traversal["name"] == "../../etc/passwd"  # shown as typed...
    assert len(long_one["name"]) == 255 and long_one["name"].endswith("x.txt")
    # ...stored under generated keys inside the files directory only...
    paths = stored_files(settings)
    assert len(paths) == 2 and all(p.startswith("files/general/") for p in paths)
    assert not any("passwd" in p or "xxxx" in p for p in paths)
    assert not (Path(settings.data_dir).parent / "etc").exists()
    # ...and offered for saving under a plain name.
    _, data, response = await fetch(alice, traversal["url"])
    assert data == b"root:x:0:0\n"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="passwd"')
    _, _, response = await fetch(alice, long_one["url"])
    assert len(response.headers["Content-Disposition"]) < 800


async def test_control_characters_in_an_encoded_name_are_dropped(node, clients):
    base, _ = await node()
    alice = await clients(base)
    # RFC 5987 lets a client smuggle any byte into the name; aiohttp decodes it.
    body = (
        b"--zz\r\n"
        b'Content-Disposition: form-data; name="file"; '
        b"filename*=UTF-8''bad%1B%5B31m%E2%80%AEexe%00%0A.txt\r\n"
        b"Content-Type: text/plain\r\n\r\n"
        b"ctl\n\r\n"
        b"--zz--\r\n"
    )
    status, answer, _ = await alice.call(
        "POST",
        "/api/rooms/general/files",
        data=body,
        headers={"Content-Type": "multipart/form-data; boundary=zz"},
    )
    assert status == 201, answer
    assert answer["message"]["fileName"] == "bad[31mexe .txt"


async def test_an_html_file_claiming_to_be_a_png_is_served_as_a_download(node, clients):
    base, _ = await node()
    alice = await clients(base)
    html = b"<!DOCTYPE html><html><script>alert(document.cookie)</script></html>"
    status, body, _ = await upload(alice, "general", [("cat.png", html, "image/png")])
    assert status == 201
    info = body["message"]["files"][0]
    assert info["type"] == "text/html" and info["icon"] == "code"
    assert "width" not in info and "thumbUrl" not in info
    status, data, response = await fetch(alice, info["url"])
    assert status == 200 and data == html
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert response.headers["Content-Security-Policy"] == FILE_CSP
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert (await fetch(alice, info["url"] + "/thumb"))[0] == 404


async def test_an_svg_with_script_is_never_served_inline(files, start_server, clients):
    base = await start_server(files=files)
    alice = await clients(base)
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    status, body, _ = await upload(alice, "general", [("logo.svg", svg, "image/svg+xml")])
    assert status == 201
    info = body["message"]["files"][0]
    assert info["type"] == "image/svg+xml" and info["icon"] == "image"
    status, data, response = await fetch(alice, info["url"], allow_redirects=False)
    if files == "s3":
        assert status == 302
        location = response.headers["Location"]
        async with aiohttp.ClientSession() as outside, outside.get(location) as response:
            status, data = response.status, await response.read()
    assert status == 200 and data == svg
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.headers["Content-Disposition"].startswith("attachment;")


@pytest.mark.parametrize(
    ("data", "why"),
    [(images.png_claiming(50_000, 50_000), "bomb"), (images.truncated_png(), "truncated")],
)
async def test_images_that_will_not_decode_are_stored_without_a_preview(node, clients, data, why):
    base, _ = await node()
    alice = await clients(base)
    status, body, _ = await upload(alice, "general", [(f"{why}.png", data, "image/png")])
    assert status == 201, body
    info = body["message"]["files"][0]
    assert info["type"] == "image/png" and info["icon"] == "image"
    assert "width" not in info and "height" not in info and "thumbUrl" not in info
    status, got, response = await fetch(alice, info["url"])
    assert status == 200 and got == data
    # A browser must not try to render what its header claims: a download.
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert response.headers["Content-Type"] == "application/octet-stream"


async def test_an_oriented_photo_gets_a_clean_thumbnail_and_is_served_inline(node, clients):
    base, _ = await node()
    alice = await clients(base)
    photo = images.jpeg_with_exif(900, 600, orientation=6)
    status, body, _ = await upload(alice, "general", [("IMG_0001.JPG", photo, "image/jpeg")])
    assert status == 201
    info = body["message"]["files"][0]
    assert (info["width"], info["height"]) == (600, 900)  # as displayed
    status, thumb, response = await fetch(alice, info["thumbUrl"])
    assert status == 200 and response.headers["Content-Type"] == "image/webp"
    with Image.open(io.BytesIO(thumb)) as image:
        assert image.size == (267, 400)
        assert not image.getexif()  # no orientation, camera or GPS left
    status, original, response = await fetch(alice, info["url"])
    assert original == photo  # the original is the user's file, byte for byte
    assert response.headers["Content-Type"] == "image/jpeg"
    assert response.headers["Content-Disposition"].startswith('inline; filename="IMG_0001.JPG"')


@pytest.mark.parametrize(
    ("files", "fields", "field"),
    [
        ([], {"text": "no file here"}, "file"),
        ([("empty.txt", b"", "text/plain")], {}, "file"),
        ([(f"f{i}.txt", b"x", "text/plain") for i in range(11)], {}, "file"),
        ([("a.txt", b"x", "text/plain")], {"text": "y" * 4001}, "text"),
        ([("a.txt", b"x", "text/plain")], {"nonce": "n" * 65}, "nonce"),
        ([("a.txt", b"x", "text/plain")], {"threadId": "no-such-message"}, "threadId"),
        ([("a.txt", b"x", "text/plain")], {"colour": "blue"}, "colour"),
    ],
    ids=["no-file", "empty", "eleven", "long-caption", "long-nonce", "bad-thread", "unknown"],
)
async def test_invalid_uploads_get_422_and_keep_nothing(node, clients, files, fields, field):
    base, settings = await node()
    alice = await clients(base, connect=True)
    status, body, _ = await upload(alice, "general", files, **fields)
    assert status == 422, body
    assert body["error"]["code"] == "invalid" and field in body["error"]["fields"]
    assert stored_files(settings) == []
    assert [f for f in await alice.drain(0.1) if f["type"] == "message"] == []


async def test_ten_files_make_one_message(node, clients):
    base, settings = await node()
    alice = await clients(base)
    parts = [(f"f{i}.txt", f"file {i}\n".encode(), "text/plain") for i in range(10)]
    status, body, _ = await upload(alice, "general", parts)
    assert status == 201
    assert [f["name"] for f in body["message"]["files"]] == [p[0] for p in parts]
    assert len(stored_files(settings)) == 10


async def test_malformed_and_non_multipart_bodies(node, clients):
    base, _ = await node()
    alice = await clients(base)
    status, body, _ = await alice.call("POST", "/api/rooms/general/files", json_body={"file": "x"})
    assert status == 415 and body["error"]["code"] == "unsupported_media_type"
    status, body, _ = await alice.call(
        "POST",
        "/api/rooms/general/files",
        data=b"--b\r\nContent-Disposition: form-data; name=file\r\n\r\nabc",
        headers={"Content-Type": "multipart/form-data; boundary=zzz"},
    )
    assert status == 400 and body["error"]["code"] == "bad_request"
    huge_header = (
        b'--zz\r\nContent-Disposition: form-data; name="file"; filename="'
        + b"n" * 70_000
        + b'"\r\n\r\nx\r\n--zz--\r\n'
    )
    status, body, _ = await alice.call(
        "POST",
        "/api/rooms/general/files",
        data=huge_header,
        headers={"Content-Type": "multipart/form-data; boundary=zz"},
    )
    assert status == 400 and "header is too long" in body["error"]["message"]
    assert (await upload(alice, "no-such-room", [("a.txt", b"x", "text/plain")]))[0] == 404
    async with (
        aiohttp.ClientSession() as anonymous,
        anonymous.post(base + "api/rooms/general/files") as response,
    ):
        assert response.status == 401


# -- retries, threads, rate limit ------------------------------------------------------
async def test_a_retry_with_the_same_nonce_stores_one_message(node, clients):
    base, settings = await node()
    alice = await clients(base, connect=True)
    part = [("report.pdf", b"%PDF-1.4\n...", "application/pdf")]
    first = await upload(alice, "general", part, nonce="upload-1")
    again = await upload(alice, "general", part, nonce="upload-1")
    assert (first[0], again[0]) == (201, 200)
    assert again[1]["message"] == first[1]["message"]
    assert first[1]["message"]["files"][0]["icon"] == "pdf"
    assert len(stored_files(settings)) == 1  # the retry's copy was dropped
    delivered = [f for f in await alice.drain(0.2) if f["type"] == "message"]
    assert [f["id"] for f in delivered] == [first[1]["message"]["id"]]


async def test_a_file_can_answer_in_a_thread(node, clients):
    base, _ = await node()
    alice = await clients(base, connect=True)
    parent = await alice.request({"type": "message", "room": "general", "text": "send it"})
    status, body, _ = await upload(
        alice, "general", [("it.txt", b"here\n", "text/plain")], threadId=parent["id"]
    )
    assert status == 201 and body["message"]["threadId"] == parent["id"]


async def test_uploads_are_rate_limited_per_user(node, clients):
    base, _ = await node(CHATD_UPLOAD_RATE="2")
    alice, bob = await clients(base), await clients(base)
    for _ in range(2):
        assert (await upload(alice, "general", [("a.txt", b"x", "text/plain")]))[0] == 201
    status, body, response = await upload(alice, "general", [("a.txt", b"x", "text/plain")])
    assert status == 429 and body["error"]["code"] == "rate_limited"
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert (await upload(bob, "general", [("b.txt", b"y", "text/plain")]))[0] == 201


# -- serving details ---------------------------------------------------------------------
async def test_the_files_cookie(node, clients):
    base, _ = await node()
    alice = await clients(base)
    _, body, _ = await upload(alice, "general", [("a.txt", b"cookie\n", "text/plain")])
    url = body["message"]["fileUrl"]
    assert (await fetch(alice, url, bearer=False))[0] == 404  # no cookie yet
    status, _, response = await alice.call("POST", "/api/files/session")
    assert status == 204
    cookie = response.cookies["chatd_files"]
    assert cookie.value == alice.token
    assert cookie["path"] == "/files" and cookie["httponly"] and cookie["samesite"] == "Strict"
    assert 880 <= int(cookie["max-age"]) <= 900
    assert not cookie["secure"]  # plain-http localhost only
    assert (await fetch(alice, url, bearer=False))[1] == b"cookie\n"
    assert (await alice.call("POST", "/api/files/session", token="not-a-token"))[0] == 401
    forged = {"Cookie": "chatd_files=not-a-token"}
    async with aiohttp.ClientSession() as other, other.get(base + url[1:], headers=forged) as r:
        assert r.status == 404
    assert (await alice.call("DELETE", "/api/files/session"))[0] == 204
    assert (await fetch(alice, url, bearer=False))[0] == 404


async def test_byte_ranges_and_revalidation(node, clients):
    base, _ = await node()
    alice = await clients(base)
    data = bytes(range(256)) * 40
    _, body, _ = await upload(alice, "general", [("v.bin", data, "application/octet-stream")])
    url = body["message"]["fileUrl"]
    status, whole, response = await fetch(alice, url)
    assert status == 200 and whole == data and response.headers["Accept-Ranges"] == "bytes"
    etag = response.headers["ETag"]
    for header, expected in (
        ("bytes=10-19", data[10:20]),
        ("bytes=10000-", data[10000:]),
        ("bytes=-6", data[-6:]),
        ("bytes=10200-99999", data[10200:]),
    ):
        status, part, response = await fetch(alice, url, headers={"Range": header})
        assert (status, part) == (206, expected), header
        assert response.headers["Content-Range"].endswith(f"/{len(data)}")
    status, _, response = await fetch(alice, url, headers={"Range": "bytes=20000-"})
    assert status == 416 and response.headers["Content-Range"] == f"bytes */{len(data)}"
    assert (await fetch(alice, url, headers={"Range": "bytes=0-1,5-6"}))[1] == data
    assert (await fetch(alice, url, headers={"Range": "bytes=0-1", "If-Range": '"x"'}))[0] == 200
    status, empty, _ = await fetch(alice, url, headers={"If-None-Match": etag})
    assert (status, empty) == (304, b"")
    async with alice.session.head(
        base + url[1:], headers={"Authorization": f"Bearer {alice.token}"}
    ) as response:
        assert response.status == 200 and int(response.headers["Content-Length"]) == len(data)


@pytest.mark.parametrize(
    "path",
    ["/files/general/x/0", "/files/general/x/-1", "/files/general/x/+0", "/files/general/x/abc",
     "/files/general/x/0/thumb", "/files/../../etc/passwd/0", "/files/" + "r" * 500 + "/x/0"],
)  # fmt: skip
async def test_bad_file_paths_are_404(node, clients, path):
    base, _ = await node()
    alice = await clients(base)
    status, _, response = await fetch(alice, path)
    assert status == 404
    assert response.headers["X-Content-Type-Options"] == "nosniff"
