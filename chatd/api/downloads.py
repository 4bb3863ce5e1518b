"""File URLs: GET /files/{room}/{message}/{index}[/thumb], and the cookie that opens them.

`<img src>` and `<video src>` cannot send a bearer header, so a client first
calls POST /api/files/session, which puts its access token in an HttpOnly
cookie scoped to /files. Either credential is checked exactly as a bearer
token is. Whoever is not a member of the room - no credentials, an expired
token, another user - gets the same 404 as for a file that does not exist.

Local files are streamed by chatd (with single byte ranges, for seeking in
video); on S3 the answer is a redirect to a presigned URL valid for a minute.
Every response forbids sniffing and runs anything rendered in a sandbox.
"""

from __future__ import annotations

import hashlib
import logging
import time

from aiohttp import web

from chatd.api.auth import cookie_secure
from chatd.auth.tokens import InvalidToken
from chatd.files.base import content_disposition
from chatd.files.kinds import serving
from chatd.files.names import download_name, thumbnail_type
from chatd.keys import AUTH, FILES, STORE
from chatd.models import Attachment, User
from chatd.web.auth import CLAIMS, USER, bearer_token
from chatd.web.openapi import documented

logger = logging.getLogger(__name__)

FILES_COOKIE = "chatd_files"
FILES_COOKIE_PATH = "/files"
#: A presigned S3 URL lives this long: enough to follow the redirect, too short to share.
PRESIGN_SECONDS = 60
#: Ids in file URLs are generated and short; anything longer names nothing.
_MAX_ID_CHARS = 128

#: On every /files response, so a hostile file can never act as part of chatd:
#: no sniffing its type, nothing it renders may run script or load anything,
#: other sites may not embed it, and shared caches keep no copy.
FILE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Cross-Origin-Resource-Policy": "same-origin",
}
#: Private: only the member's browser may keep it. no-cache: it asks again
#: (a cheap 304 by ETag) so a removed member stops getting files.
FILE_CACHE = "private, no-cache"


class _Unsatisfiable(Exception):
    """The Range asks only for bytes past the end."""


@documented(
    summary="Set the cookie that lets <img>/<video> load /files URLs (the access token)",
    tags=("files",),
    responses={204: ("Cookie set; lives as long as the access token", None)},
)
async def open_files_session(request: web.Request) -> web.Response:
    """Call it after log-in and after each token refresh: the cookie expires with the token."""
    token = bearer_token(request)
    claims = request[CLAIMS]
    assert token is not None  # the auth middleware let the request through
    response = web.Response(status=204, headers={"Cache-Control": "no-store"})
    response.set_cookie(
        FILES_COOKIE,
        token,
        max_age=max(0, claims.expires_at - int(time.time())),
        path=FILES_COOKIE_PATH,
        httponly=True,
        samesite="Strict",
        secure=cookie_secure(request),
    )
    return response


@documented(
    summary="Remove the /files cookie (log-out)",
    tags=("files",),
    responses={204: ("Cookie removed", None)},
)
async def close_files_session(request: web.Request) -> web.Response:
    response = web.Response(status=204)
    response.del_cookie(
        FILES_COOKIE,
        path=FILES_COOKIE_PATH,
        httponly=True,
        samesite="Strict",
        secure=cookie_secure(request),
    )
    return response


async def download(request: web.Request) -> web.StreamResponse:
    """The file as uploaded (byte for byte)."""
    attachment = await _attachment(request)
    if attachment is None:
        return _not_found()
    how = serving(attachment)
    return await _serve(
        request,
        attachment.key,
        content_type=how.content_type,
        filename=download_name(attachment.name),
        inline=how.inline,
        size=attachment.size,
    )


async def download_thumbnail(request: web.Request) -> web.StreamResponse:
    """The image's thumbnail (at most 400x400, no metadata)."""
    attachment = await _attachment(request)
    if attachment is None or attachment.thumbnail_key is None:
        return _not_found()
    key = attachment.thumbnail_key
    stem = download_name(attachment.name).rsplit(".", 1)[0] or "file"
    extension = key.rsplit(".", 1)[-1]
    return await _serve(
        request,
        key,
        content_type=thumbnail_type(key),
        filename=f"{stem}-thumbnail.{extension}",
        inline=True,
        size=None,
    )


async def _viewer(request: web.Request) -> User | None:
    """The caller by bearer header (checked by the middleware) or by the files cookie."""
    if USER in request:
        return request[USER]
    token = request.cookies.get(FILES_COOKIE)
    if not token:
        return None
    try:
        viewer, _ = await request.app[AUTH].authenticate(token)
    except InvalidToken:
        return None
    return viewer


async def _attachment(request: web.Request) -> Attachment | None:
    """The attachment the path names, if the caller is a member of its room."""
    room_id = request.match_info["room"]
    message_id = request.match_info["message"]
    index_text = request.match_info["index"]
    if (
        len(room_id) > _MAX_ID_CHARS
        or len(message_id) > _MAX_ID_CHARS
        or not index_text.isdigit()  # no signs, no spaces: one canonical URL per file
        or len(index_text) > 2
    ):
        return None
    user = await _viewer(request)
    store = request.app[STORE]
    if user is None or not await store.is_member(room_id, user.id):
        return None
    message = await store.get_message(room_id, message_id)
    index = int(index_text)
    if message is None or index >= len(message.attachments):
        return None
    return message.attachments[index]


async def _serve(
    request: web.Request,
    key: str,
    *,
    content_type: str,
    filename: str,
    inline: bool,
    size: int | None,
) -> web.StreamResponse:
    files = request.app[FILES]
    stored_size = await files.size(key)
    if stored_size is None:  # deleted (with its message) or never completed
        return _not_found()
    etag = f'"{hashlib.sha256(key.encode()).hexdigest()[:32]}"'
    headers = {
        **FILE_HEADERS,
        "Cache-Control": FILE_CACHE,
        "ETag": etag,
        "Content-Type": content_type,
        "Content-Disposition": content_disposition(filename, inline=inline),
    }
    if etag in _etags(request.headers.get("If-None-Match", "")):
        return web.Response(status=304, headers=headers)
    url = await files.download_url(
        key,
        filename=filename,
        content_type=content_type,
        inline=inline,
        expires=PRESIGN_SECONDS,
    )
    if url is not None:
        return web.Response(
            status=302,
            headers={**FILE_HEADERS, "Location": url, "Cache-Control": "private, no-store"},
        )
    if size is not None and size != stored_size:
        logger.warning("%s is %d bytes, its message says %d", key, stored_size, size)
    return await _stream(request, key, stored_size, headers)


async def _stream(
    request: web.Request, key: str, size: int, headers: dict[str, str]
) -> web.StreamResponse:
    """Stream a local file, whole or one byte range of it."""
    headers["Accept-Ranges"] = "bytes"
    try:
        span = _byte_range(request, size, headers["ETag"])
    except _Unsatisfiable:
        return web.Response(status=416, headers={**headers, "Content-Range": f"bytes */{size}"})
    start, length = span if span is not None else (0, size)
    response = web.StreamResponse(status=200 if span is None else 206, headers=headers)
    if span is not None:
        response.headers["Content-Range"] = f"bytes {start}-{start + length - 1}/{size}"
    response.content_length = length
    if request.method == "HEAD":
        await response.prepare(request)
        return response
    chunks = request.app[FILES].open(key, offset=start, length=length)
    try:
        first = await anext(chunks, b"")
    except FileNotFoundError:  # deleted since it was measured
        return _not_found()
    await response.prepare(request)
    await response.write(first)
    async for chunk in chunks:
        await response.write(chunk)
    await response.write_eof()
    return response


def _byte_range(request: web.Request, size: int, etag: str) -> tuple[int, int] | None:
    """(start, length) of a single satisfiable `Range`, or None to send everything.

    Malformed or multiple ranges are ignored (RFC 9110 allows it): the whole
    file is a valid answer. An If-Range naming another version does the same.
    """
    if "Range" not in request.headers:
        return None
    if_range = request.headers.get("If-Range")
    if if_range is not None and if_range.strip() != etag:
        return None
    try:
        wanted = request.http_range
    except ValueError:
        return None
    start, stop = wanted.start, wanted.stop
    if start is None:
        return None
    if start < 0:  # the last -start bytes
        start = max(0, size + start)
    if start >= size:
        raise _Unsatisfiable
    end = size if stop is None else min(stop, size)
    return start, end - start


def _etags(header: str) -> set[str]:
    tags = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    return tags - {""}


def _not_found() -> web.Response:
    """One answer for missing, forbidden and malformed alike: nothing is revealed."""
    return web.Response(
        status=404,
        text="not found",
        headers={**FILE_HEADERS, "Cache-Control": "private, no-store"},
    )


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/files/session", open_files_session)
    app.router.add_delete("/api/files/session", close_files_session)
    app.router.add_get("/files/{room}/{message}/{index}", download)
    app.router.add_get("/files/{room}/{message}/{index}/thumb", download_thumbnail)
