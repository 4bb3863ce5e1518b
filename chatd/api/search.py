"""GET /api/search: full-text search over the messages of the caller's rooms.

Words are runs of letters and digits; a message matches when it has every word
of `q` as a whole word (any letter case, accents ignored). Results come newest
first. `before`/`after` bound the message time (epoch ms, exclusive);
`nextCursor` continues a search where its page ended.
"""

from __future__ import annotations

import re
from typing import Any, Final

from aiohttp import web
from marshmallow import Schema, ValidationError, fields, validate

from chatd.api.messages import messages_json
from chatd.handlers.base import ROOM_ID_PATTERN
from chatd.keys import STORE
from chatd.models import SearchQuery
from chatd.util.jsonutil import dumps
from chatd.web.auth import current_user
from chatd.web.errors import ApiError
from chatd.web.openapi import documented
from chatd.web.parsing import parse_query
from chatd.web.schemas import StrictSchema
from chatd.wire.numbers import stored_int

DEFAULT_RESULTS: Final = 20
MAX_RESULTS: Final = 100
#: More words than this is a pasted paragraph, not a search.
MAX_TERMS: Final = 10
_WORD: Final = re.compile(r"[^\W_]+")
_CURSOR: Final = re.compile(r"^(\d{1,16}):([A-Za-z0-9_\-]{1,64})$")


def search_terms(q: str) -> tuple[str, ...]:
    """The words of a query (letters and digits; everything else separates them)."""
    return tuple(dict.fromkeys(word.lower() for word in _WORD.findall(q)))


def _has_words(q: str) -> None:
    terms = search_terms(q)
    if not terms:
        raise ValidationError("Give at least one word (letters or digits).")
    if len(terms) > MAX_TERMS:
        raise ValidationError(f"At most {MAX_TERMS} words.")


def _cursor(value: str) -> None:
    if not _CURSOR.match(value):
        raise ValidationError("Not a cursor from a previous page (nextCursor).")


def encode_cursor(ts: int, message_id: str) -> str:
    return f"{ts}:{message_id}"


def decode_cursor(value: str) -> tuple[int, str]:
    match = _CURSOR.match(value)
    assert match is not None  # validated by the schema
    return int(match.group(1)), match.group(2)


class SearchQuerySchema(StrictSchema):
    q = fields.String(required=True, validate=[validate.Length(min=1, max=256), _has_words])
    room = fields.String(validate=validate.Regexp(ROOM_ID_PATTERN, error="Not a room id."))
    user = fields.String(validate=validate.Length(min=1, max=64))
    before = stored_int()
    after = stored_int()
    limit = fields.Integer(
        load_default=DEFAULT_RESULTS, validate=validate.Range(min=1, max=MAX_RESULTS)
    )
    cursor = fields.String(validate=_cursor)


class SearchResultSchema(Schema):
    messages = fields.List(fields.Dict())
    nextCursor = fields.String(allow_none=True)


@documented(
    summary="Search messages of the rooms you are a member of (newest first)",
    tags=("search",),
    query=SearchQuerySchema,
    responses={
        200: ("Matching messages and the cursor of the next page", SearchResultSchema),
        404: ("`room` is not a room you are a member of", None),
        422: ("No words in q, an unknown user, or a bad cursor", None),
    },
)
async def search(request: web.Request) -> web.Response:
    """`q`: words that must all occur (whole words, any case). `room`: one room id.
    `user`: an author's username. `before`/`after`: message time bounds in epoch
    milliseconds (exclusive). `cursor`: the `nextCursor` of the previous page."""
    query = parse_query(request, SearchQuerySchema())
    store, me = request.app[STORE], current_user(request)
    room_id = query.get("room")
    if room_id is not None and not await store.is_member(room_id, me.id):
        raise ApiError(404, "not_found", "no such room, or you are not a member")
    author_id = None
    if "user" in query:
        author = await store.get_user_by_name(query["user"])
        if author is None:
            raise ApiError(422, "invalid", "no such user", fields={"user": ["No such user."]})
        author_id = author.id
    limit = query["limit"]
    found = await store.search_messages(
        SearchQuery(
            user_id=me.id,
            terms=search_terms(query["q"]),
            limit=limit,
            room_id=room_id,
            author_id=author_id,
            before_ts=query.get("before"),
            after_ts=query.get("after"),
            cursor=decode_cursor(query["cursor"]) if "cursor" in query else None,
        )
    )
    body: dict[str, Any] = {
        "messages": await messages_json(store, found, me.id),
        "nextCursor": encode_cursor(found[-1].ts, found[-1].id) if len(found) == limit else None,
    }
    return web.json_response(body, dumps=dumps)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/search", search)
