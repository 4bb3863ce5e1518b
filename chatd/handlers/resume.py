"""resume: replay every room event after the client's last seq, then continue live.

Replays the room's event log - new messages, edits, deletes and reaction
changes alike - each event once, in seq order.
"""

from __future__ import annotations

from typing import Any

from marshmallow import fields, validate

from chatd import frames
from chatd.handlers.base import ROOM_ID_PATTERN, FrameContext, FrameSchema, Handler, RateLimit
from chatd.jsonutil import dumpb
from chatd.numbers import stored_int

#: Events read per store query while replaying.
REPLAY_PAGE = 500
MAX_RESUME_ROOMS = 500


class ResumeSchema(FrameSchema):
    rooms = fields.Dict(
        keys=fields.String(validate=validate.Regexp(ROOM_ID_PATTERN)),
        values=stored_int(strict=True),
        required=True,
        validate=validate.Length(max=MAX_RESUME_ROOMS),
    )


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
            # Live events for this room wait while the store replays, so the
            # client sees each event exactly once and in seq order.
            conn.hold(room_id)
            try:
                last = last_seq
                while True:
                    batch = await store.events_after(room_id, last, REPLAY_PAGE)
                    for ev in batch:
                        replayed = frames.event(ev)
                        if replayed is not None:  # None: a message deleted since
                            await conn.send_waiting(dumpb(replayed))
                        last = ev.seq
                    if len(batch) < REPLAY_PAGE:
                        break
            finally:
                held = conn.release(room_id)
            for seq, data in held:
                if seq > last:
                    conn.send_raw(data)
                    last = seq
            caught_up[room_id] = last
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
