"""POST /api/rooms/{room}/files: a multipart upload becomes one file message.

The request is read part by part and each `file` part streams straight into
the FileStore, so memory per upload stays at a few chunks whatever its size.
Everything refusable without the body (membership, rate, a declared length
beyond any valid upload) is refused before a byte of it is read; a file that
turns out too large is refused the moment it crosses the limit. A refused or
failed upload keeps nothing: the objects it stored are deleted again.
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from aiohttp import BodyPartReader, MultipartReader, web
from aiohttp.http_exceptions import HttpProcessingError
from marshmallow import Schema, fields, validate

from chatd.actions.deps import Membership, member_room
from chatd.actions.messages import MAX_MESSAGE_CHARS, MAX_NONCE_CHARS, post_message
from chatd.files import FileTooLarge
from chatd.files.intake import EmptyFile, FileIntake
from chatd.files.names import file_key, upload_prefix
from chatd.keys import ACTIONS, COUNTERS, INTAKE, METRICS, SETTINGS
from chatd.models import Attachment, Room, User
from chatd.util.jsonutil import dumps
from chatd.web.auth import current_user
from chatd.web.errors import ApiError
from chatd.web.openapi import documented
from chatd.web.parsing import validate as validate_fields
from chatd.web.schemas import StrictSchema
from chatd.wire import frames

logger = logging.getLogger(__name__)

#: Files one message may carry (the product's promise).
MAX_FILES = 10
#: Bytes read from one `file` part at a time.
READ_CHUNK = 64 * 1024
#: The small text parts are read whole, so each is capped: a caption of 4,000
#: characters is at most 16,000 bytes of UTF-8.
MAX_FIELD_BYTES = 4 * MAX_MESSAGE_CHARS
#: Multipart framing (boundaries, part headers with long file names) allowed on
#: top of the files and fields when judging a declared Content-Length.
FRAMING_ALLOWANCE = 64 * 1024
#: One header line of a part may be this long: room for a file name of 10,000
#: characters (which is then cut to 255), not for a memory-filling header.
MAX_PART_HEADER_LINE = 64 * 1024
#: Headers per part; a browser sends two (Content-Disposition, Content-Type).
MAX_PART_HEADERS = 16
#: The window of the per-user upload rate limit.
RATE_WINDOW_SECONDS = 60.0

_TEXT_FIELDS = ("text", "nonce", "threadId")
_EXPECTED = ", ".join(("file", *_TEXT_FIELDS))


class UploadFieldsSchema(StrictSchema):
    """The text parts that travel with the files."""

    text = fields.String(load_default="", validate=validate.Length(max=MAX_MESSAGE_CHARS))
    nonce = fields.String(validate=validate.Length(min=1, max=MAX_NONCE_CHARS))
    threadId = fields.String(validate=validate.Length(min=1, max=64))


class UploadFormSchema(UploadFieldsSchema):
    """The whole multipart form, for the OpenAPI document."""

    file = fields.List(
        fields.Raw(metadata={"type": "string", "format": "binary"}),
        required=True,
        metadata={"description": f"1 to {MAX_FILES} files"},
    )


class MessageEnvelopeSchema(Schema):
    message = fields.Dict(metadata={"description": "the file message, as the `message` frame"})


@dataclass
class _Form:
    attachments: list[Attachment] = field(default_factory=list)
    values: dict[str, str] = field(default_factory=dict)


@documented(
    summary="Share files in a room: one message carrying 1-10 files and an optional caption",
    tags=("files",),
    form=UploadFormSchema,
    responses={
        201: ("Stored and delivered", MessageEnvelopeSchema),
        200: ("A retry with a nonce already stored: the first message", MessageEnvelopeSchema),
        404: ("No such room, or not a member", None),
        413: ("A file is over the size limit", None),
        415: ("Not multipart/form-data", None),
        422: ("No file, an empty file, too many files, or a bad text field", None),
        429: ("Too many uploads; see Retry-After", None),
        507: ("The server's disk is full (`storage_full`); nothing was kept", None),
    },
)
async def upload(request: web.Request) -> web.Response:
    """Parts: `file` (1-10), `text` (caption), `nonce` (idempotent retries), `threadId`."""
    user = current_user(request)
    deps = request.app[ACTIONS]
    room = await member_room(deps, user.id, request.match_info["room"])
    await _check_rate(request, user)
    _check_declared_length(request)
    if request.content_type != "multipart/form-data":
        raise ApiError(415, "unsupported_media_type", "send the files as multipart/form-data")
    intake = request.app[INTAKE]
    form = _Form()
    stored: list[str] = []  # the message's id once one holds the files
    try:
        await _read_form(request, room, form)
        values = validate_fields(UploadFieldsSchema(), form.values)
        posted = await post_message(
            deps,
            user,
            room.id,
            membership=Membership.VERIFIED,  # member_room above
            text=values["text"],
            nonce=values.get("nonce"),
            thread_id=values.get("threadId"),
            attachments=form.attachments,
            acknowledge=lambda message_id, _seq: stored.append(message_id),
        )
    except BaseException:
        if not stored:
            await intake.discard(_keys(form.attachments))
        raise
    if not posted.created:
        # A retry of an upload that was stored: the first copy stands.
        await intake.discard(_keys(form.attachments))
    else:
        metrics = request.app[METRICS]
        metrics.uploads.inc(len(form.attachments))
        metrics.upload_bytes.inc(sum(a.size for a in form.attachments))
    return web.json_response(
        {"message": frames.message(posted.message)},
        status=201 if posted.created else 200,
        dumps=dumps,
    )


async def _check_rate(request: web.Request, user: User) -> None:
    """Count the request against the user's per-minute allowance (shared by all nodes)."""
    settings = request.app[SETTINGS]
    counters = request.app[COUNTERS]
    key = f"{settings.redis_prefix}uploads:{user.id}"
    if await counters.incr(key, RATE_WINDOW_SECONDS) <= settings.upload_rate:
        return
    _, ttl = await counters.get_counter(key)
    retry_after = max(1, math.ceil(ttl))
    raise ApiError(
        429,
        "rate_limited",
        f"at most {settings.upload_rate} uploads a minute; retry in {retry_after} s",
        headers={"Retry-After": str(retry_after)},
    )


def max_request_bytes(max_file_bytes: int) -> int:
    """The largest body a valid upload can have: ten full files, fields and framing."""
    return MAX_FILES * max_file_bytes + len(_TEXT_FIELDS) * MAX_FIELD_BYTES + FRAMING_ALLOWANCE


def _check_declared_length(request: web.Request) -> None:
    """413 at once when Content-Length alone rules the upload out (nothing is read)."""
    declared = request.content_length
    limit = request.app[SETTINGS].max_upload_bytes
    if declared is not None and declared > max_request_bytes(limit):
        raise _too_large(limit, f"the request declares {declared} bytes")


def _too_large(limit: int, detail: str) -> ApiError:
    return ApiError(
        413,
        "too_large",
        f"{detail}; files may be at most {limit} bytes each, {MAX_FILES} per message",
        # The rest of the body is not read: the connection cannot be reused.
        headers={"Connection": "close"},
    )


async def _read_form(request: web.Request, room: Room, form: _Form) -> None:
    """Read every part in order, storing files as they come (into form.attachments)."""
    intake = request.app[INTAKE]
    prefix = upload_prefix(room.id)
    try:
        reader = MultipartReader(
            request.headers,
            request.content,
            max_field_size=MAX_PART_HEADER_LINE,
            max_headers=MAX_PART_HEADERS,
        )
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                raise _invalid("_schema", "nested multipart bodies are not accepted")
            name = part.name or ""
            if name == "file":
                await _receive_file(intake, part, file_key(prefix, len(form.attachments)), form)
            elif name in _TEXT_FIELDS:
                if name in form.values:
                    raise _invalid(name, "given more than once")
                form.values[name] = await _read_field(part, name)
            else:
                raise _invalid(name or "_schema", f"unknown field (expected {_EXPECTED})")
    except (ValueError, HttpProcessingError) as exc:  # a malformed multipart body
        raise ApiError(400, "bad_request", f"malformed multipart body: {_reason(exc)}") from None
    if not form.attachments:
        raise _invalid("file", "Missing data for required field.")


def _reason(exc: Exception) -> str:
    if isinstance(exc, HttpProcessingError):
        return f"a part header is too long or malformed ({exc.message.splitlines()[0]})"
    return str(exc)


async def _receive_file(intake: FileIntake, part: BodyPartReader, key: str, form: _Form) -> None:
    number = len(form.attachments) + 1
    if number > MAX_FILES:
        raise _invalid("file", f"at most {MAX_FILES} files per message")
    try:
        attachment = await intake.receive(key, part.filename, _chunks(part))
    except EmptyFile:
        raise _invalid("file", f"file {number} is empty; there is nothing to share") from None
    except FileTooLarge as exc:
        raise _too_large(exc.limit, f"file {number} is too large") from None
    form.attachments.append(attachment)


async def _chunks(part: BodyPartReader) -> AsyncIterator[bytes]:
    while chunk := await part.read_chunk(READ_CHUNK):
        yield chunk


async def _read_field(part: BodyPartReader, name: str) -> str:
    """A small text part, read whole but never past MAX_FIELD_BYTES."""
    data = bytearray()
    while chunk := await part.read_chunk(READ_CHUNK):
        data += chunk
        if len(data) > MAX_FIELD_BYTES:
            raise _invalid(name, f"longer than {MAX_FIELD_BYTES} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise _invalid(name, "not valid UTF-8") from None


def _invalid(name: str, message: str) -> ApiError:
    return ApiError(422, "invalid", "some fields are invalid", fields={name: [message]})


def _keys(attachments: list[Attachment]) -> list[str | None]:
    return [key for a in attachments for key in (a.key, a.thumbnail_key)]


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/rooms/{room}/files", upload)
