"""REST views for rooms: list, create, history, members, invites."""

from __future__ import annotations

from aiohttp import web
from marshmallow import Schema, fields, validate

from chatd.actions import rooms as actions
from chatd.actions.deps import Membership, member_room
from chatd.api.messages import MessageListSchema, messages_json
from chatd.broker import BrokerUnavailable
from chatd.domain import rooms
from chatd.keys import ACTIONS, BROKER, OUTAGES, STORE
from chatd.models import Room
from chatd.util.jsonutil import dumps
from chatd.web.auth import current_user
from chatd.web.openapi import documented
from chatd.web.parsing import parse_body, parse_query
from chatd.web.schemas import StrictSchema
from chatd.wire import frames
from chatd.wire.numbers import stored_int

#: The contract: with no cursor, the latest 100.
DEFAULT_HISTORY = 100
MAX_HISTORY = 100


class CreateRoomSchema(StrictSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=rooms.MAX_ROOM_NAME))
    private = fields.Boolean(load_default=False)
    topic = fields.String(load_default="", validate=validate.Length(max=rooms.MAX_TOPIC))
    voice = fields.Boolean(
        load_default=False, metadata={"description": "a voice channel: its calls are audio-only"}
    )


class HistoryQuerySchema(StrictSchema):
    limit = fields.Integer(
        load_default=DEFAULT_HISTORY, validate=validate.Range(min=1, max=MAX_HISTORY)
    )
    before = stored_int(minimum=1)
    after = stored_int()


class InviteSchema(StrictSchema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=64))


class RoomSchema(Schema):
    id = fields.String()
    name = fields.String()
    kind = fields.String()
    private = fields.Boolean()
    topic = fields.String()
    createdBy = fields.String(allow_none=True)
    createdAt = fields.Integer()
    voice = fields.Boolean()
    member = fields.Boolean()


class RoomListSchema(Schema):
    rooms = fields.List(fields.Nested(RoomSchema))


class RoomEnvelopeSchema(Schema):
    room = fields.Nested(RoomSchema)


class MemberSchema(Schema):
    id = fields.String()
    username = fields.String()
    role = fields.String()
    online = fields.Boolean()


class MemberListSchema(Schema):
    members = fields.List(fields.Nested(MemberSchema))
    #: True while the broker (where online state lives) is down: everyone is shown offline.
    onlineUnknown = fields.Boolean()


_TAGS = ("rooms",)


async def readable_room(request: web.Request) -> Room:
    """The room in the path if the caller is a member; 404 otherwise (no existence leak)."""
    return await member_room(
        request.app[ACTIONS], current_user(request).id, request.match_info["room"]
    )


@documented(
    summary="Rooms the caller can see: every public room and each room they belong to",
    tags=_TAGS,
    responses={200: ("Rooms", RoomListSchema)},
)
async def list_rooms(request: web.Request) -> web.Response:
    store = request.app[STORE]
    mine = {room.id: room for room in await store.rooms_of(current_user(request).id)}
    public = {room.id: room for room in await store.list_public_rooms()}
    listed = []
    for room in sorted({**public, **mine}.values(), key=lambda r: r.name.lower()):
        info = frames.room_json(room)
        info["member"] = room.id in mine
        listed.append(info)
    return web.json_response({"rooms": listed}, dumps=dumps)


@documented(
    summary="Create a room (public rooms are named by their normalized name)",
    tags=_TAGS,
    body=CreateRoomSchema,
    responses={
        201: ("Created; the caller is its owner", RoomEnvelopeSchema),
        409: ("A public room with that name exists", None),
        422: ("Invalid name", None),
    },
)
async def create_room(request: web.Request) -> web.Response:
    data = await parse_body(request, CreateRoomSchema())
    room = await actions.create_room(
        request.app[ACTIONS],
        current_user(request),
        name=data["name"],
        private=data["private"],
        topic=data["topic"],
        voice=data["voice"],
    )
    info = frames.room_json(room)
    info["member"] = True
    return web.json_response({"room": info}, status=201, dumps=dumps)


@documented(
    summary="Message history, oldest first: the latest 100, or pages before/after a seq;"
    " each message with its reactions as the caller sees them",
    tags=_TAGS,
    query=HistoryQuerySchema,
    responses={200: ("Messages", MessageListSchema), 404: ("Not a member", None)},
)
async def history(request: web.Request) -> web.Response:
    query = parse_query(request, HistoryQuerySchema())
    room = await readable_room(request)
    store = request.app[STORE]
    if "after" in query:
        messages = await store.messages_after(room.id, query["after"], query["limit"])
        if "before" in query:
            messages = [m for m in messages if m.seq < query["before"]]
    else:
        messages = await store.messages_before(room.id, query.get("before"), query["limit"])
    body = {"messages": await messages_json(store, messages, current_user(request).id)}
    return web.json_response(body, dumps=dumps)


@documented(
    summary="Members of a room with their online state",
    tags=_TAGS,
    responses={200: ("Members", MemberListSchema), 404: ("Not a member", None)},
)
async def members(request: web.Request) -> web.Response:
    room = await readable_room(request)
    store = request.app[STORE]
    online, online_unknown = await _online_ids(request, room.id)
    listed = []
    for user_id in await store.member_ids(room.id):
        user = await store.get_user(user_id)
        if user is None:
            continue
        listed.append(
            {
                "id": user.id,
                "username": user.username,
                "role": await store.member_role(room.id, user.id) or "member",
                "online": user.id in online,
            }
        )
    listed.sort(key=lambda m: (not m["online"], str(m["username"]).lower()))
    body = {"members": listed, "onlineUnknown": online_unknown}
    return web.json_response(body, dumps=dumps)


async def _online_ids(request: web.Request, room_id: str) -> tuple[set[str], bool]:
    """The ids online in the room, and whether that could not be known (broker down).

    Membership and roles are in the store; only who is online is in the broker,
    so an outage of it shows everyone offline with the flag rather than a 503.
    """
    try:
        return {uid for uid, _ in await request.app[BROKER].presence_list(room_id)}, False
    except BrokerUnavailable as exc:
        request.app[OUTAGES].note(exc, f"{request.method} {request.path}")
        return set(), True


@documented(
    summary="Add a user to a room (any member may invite to a private room)",
    tags=_TAGS,
    body=InviteSchema,
    responses={
        204: ("Added", None),
        404: ("No such room or user", None),
        422: ("DMs cannot be joined", None),
    },
)
async def invite(request: web.Request) -> web.Response:
    data = await parse_body(request, InviteSchema())
    await actions.invite(
        request.app[ACTIONS],
        current_user(request),
        request.match_info["room"],
        data["username"],
        membership=Membership.UNVERIFIED,
    )
    return web.Response(status=204)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/rooms", list_rooms)
    app.router.add_post("/api/rooms", create_room)
    app.router.add_get("/api/rooms/{room}/messages", history)
    app.router.add_get("/api/rooms/{room}/members", members)
    app.router.add_post("/api/rooms/{room}/members", invite)
