"""resume: replay every room event after the client's last seq, then continue live.

Replays the room's event log - new messages, edits, deletes and reaction
changes alike - each event once, in seq order, and never one this socket was
already sent live (see chatd.replay).
"""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields, validate

from chatd.fanout.replay import replay_room
from chatd.handlers.base import ROOM_ID_PATTERN, FrameContext, FrameSchema, Handler, RateLimit
from chatd.wire import frames
from chatd.wire.numbers import stored_int

#: Rooms one resume (or hello) may name: a user's rooms fit, and one frame's
#: replay stays bounded.
MAX_RESUME_ROOMS = 500


class ResumeSchema(FrameSchema):
    rooms = fields.Dict(
        keys=fields.String(validate=validate.Regexp(ROOM_ID_PATTERN)),
        values=stored_int(strict=True),
        required=True,
        validate=validate.Length(max=MAX_RESUME_ROOMS),
    )


def load_resume_map(value: object) -> dict[str, int]:
    """`{<room>: <lastSeq>}` as `hello.resume` carries it, checked like `resume.rooms`.

    Raises ValidationError with the problems under `resume`.
    """
    try:
        rooms: dict[str, int] = ResumeSchema().load({"rooms": value})["rooms"]
    except ValidationError as exc:
        messages = exc.messages if isinstance(exc.messages, dict) else {}
        raise ValidationError({"resume": messages.get("rooms", exc.messages)}) from None
    return rooms


class ResumeHandler(Handler):
    frame_type = "resume"
    schema = ResumeSchema
    rate_limit = RateLimit(burst=5, per_second=0.5)

    async def handle(self, ctx: FrameContext, frame: dict[str, Any]) -> None:
        conn, store = ctx.conn, self.services.store
        caught_up: dict[str, int] = {}
        refused = []
        for room_id, last_seq in frame["rooms"].items():
            if room_id not in conn.rooms:
                refused.append(room_id)
                continue
            caught_up[room_id] = await replay_room(conn, store, room_id, last_seq)
        if refused:
            ctx.reply(
                frames.error(
                    "forbidden",
                    "not a member of: " + ", ".join(sorted(refused)),
                    fields={"rooms": {r: ["Not a member."] for r in refused}},
                )
            )
        ctx.reply(frames.resumed(caught_up))
        for room_id in caught_up:
            users = await self.services.broker.presence_list(room_id)
            conn.send(frames.presence(room_id, users))
