"""REST for direct messages: open one with 1-9 others, list mine by latest activity."""

from __future__ import annotations

from aiohttp import web
from marshmallow import Schema, fields, validate

from chatd.actions.dms import open_dm
from chatd.domain.dms import DM_SIZE_RULE, MAX_DM_MEMBERS, dm_json, list_dms
from chatd.keys import ACTIONS, STORE
from chatd.util.jsonutil import dumps
from chatd.web.auth import current_user
from chatd.web.openapi import documented
from chatd.web.parsing import parse_body
from chatd.web.schemas import StrictSchema

_TAGS = ("dms",)


class OpenDmSchema(StrictSchema):
    users = fields.List(
        fields.String(validate=validate.Length(min=1, max=64)),
        required=True,
        validate=validate.Length(
            min=1,
            max=MAX_DM_MEMBERS,
            error=DM_SIZE_RULE,
        ),
    )


class DmSchema(Schema):
    id = fields.String()
    name = fields.String()
    kind = fields.String()
    members = fields.List(fields.Dict())
    lastActivity = fields.Integer()
    lastSeq = fields.Integer()
    lastRead = fields.Integer()
    unread = fields.Integer()
    mentions = fields.Integer()
    readPositions = fields.Dict(keys=fields.String(), values=fields.Integer())


class DmEnvelopeSchema(Schema):
    room = fields.Nested(DmSchema)


class DmListSchema(Schema):
    dms = fields.List(fields.Nested(DmSchema))


@documented(
    summary="Open the DM with these users (1-9 others; the same room again for the same set)",
    tags=_TAGS,
    body=OpenDmSchema,
    responses={
        201: ("The DM; every member's sockets get `joined` the first time", DmEnvelopeSchema),
        409: (
            "`dm_conflict`: a room that is not this DM holds its id (made by an older"
            " version; an operator must remove it)",
            None,
        ),
        422: ("Unknown users, or not 1-9 others", None),
    },
)
async def open_direct_message(request: web.Request) -> web.Response:
    """`users` are usernames (any letter case); the caller may be listed or not."""
    data = await parse_body(request, OpenDmSchema())
    me = current_user(request)
    room = await open_dm(request.app[ACTIONS], me, data["users"])
    body = {"room": await dm_json(request.app[STORE], room, me.id)}
    return web.json_response(body, status=201, dumps=dumps)


@documented(
    summary="My DMs, latest activity first, with members, read positions and my unread counts",
    tags=_TAGS,
    responses={200: ("DMs", DmListSchema)},
)
async def my_direct_messages(request: web.Request) -> web.Response:
    body = {"dms": await list_dms(request.app[STORE], current_user(request).id)}
    return web.json_response(body, dumps=dumps)


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/dms", open_direct_message)
    app.router.add_get("/api/dms", my_direct_messages)
