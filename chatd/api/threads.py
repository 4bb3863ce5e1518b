"""GET /api/rooms/{room}/threads/{id}/messages: a thread's replies, paged like history."""

from __future__ import annotations

from aiohttp import web
from marshmallow import Schema, fields

from chatd.api.messages import messages_json
from chatd.api.rooms import HistoryQuerySchema, readable_room
from chatd.keys import STORE
from chatd.util.jsonutil import dumps
from chatd.web.auth import current_user
from chatd.web.errors import ApiError
from chatd.web.openapi import documented
from chatd.web.parsing import parse_query


class ThreadSchema(Schema):
    parent = fields.Dict(allow_none=True)
    messages = fields.List(fields.Dict())


@documented(
    summary="A thread: its parent message and its replies, oldest first (the latest 100,"
    " or pages before/after a seq)",
    tags=("rooms",),
    query=HistoryQuerySchema,
    responses={200: ("The thread", ThreadSchema), 404: ("No such room or thread", None)},
)
async def thread(request: web.Request) -> web.Response:
    """`parent` is null once the parent was deleted; its replies stay readable."""
    query = parse_query(request, HistoryQuerySchema())
    room = await readable_room(request)
    store, viewer = request.app[STORE], current_user(request).id
    thread_id = request.match_info["id"]
    parent = await store.get_message(room.id, thread_id)
    replies = await store.thread_messages(
        room.id,
        thread_id,
        limit=query["limit"],
        before_seq=query.get("before"),
        after_seq=query.get("after"),
    )
    if (
        parent is None
        and not replies
        and not await store.thread_messages(room.id, thread_id, limit=1)
    ):
        raise ApiError(404, "not_found", "no such thread in this room")
    [parent_json] = await messages_json(store, [parent], viewer) if parent else [None]
    body = {"parent": parent_json, "messages": await messages_json(store, replies, viewer)}
    return web.json_response(body, dumps=dumps)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/rooms/{room}/threads/{id}/messages", thread)
