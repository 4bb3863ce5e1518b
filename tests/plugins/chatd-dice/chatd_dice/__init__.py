"""A sample chatd plugin: `{"type": "roll", "room": "general", "dice": "2d6"}`.

Everyone in the room (on every node) receives
`{"type": "roll", "room", "user", "dice", "rolls", "total"}`.
See docs/plugins.md for the walk-through.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from marshmallow import fields, validate

from chatd.handlers.base import (
    FrameContext,
    FrameError,
    FrameSchema,
    Handler,
    RateLimit,
    room_field,
)

DICE = re.compile(r"^(\d{1,2})d(\d{1,3})$")


class RollSchema(FrameSchema):
    room = room_field()
    dice = fields.String(required=True, validate=validate.Regexp(DICE.pattern))


class RollHandler(Handler):
    """Roll NdM dice and show the result to the whole room."""

    frame_type = "roll"
    schema = RollSchema
    requires_membership = True
    rate_limit = RateLimit(burst=3, per_second=1)

    async def handle(self, ctx: FrameContext, frame: dict[str, Any]) -> None:
        match = DICE.match(frame["dice"])
        assert match is not None  # the schema checked the pattern
        count, sides = int(match[1]), int(match[2])
        if not (1 <= count <= 20 and 2 <= sides <= 100):
            raise FrameError(
                "invalid", "roll 1-20 dice of 2-100 sides", fields={"dice": ["Out of range."]}
            )
        rolls = [secrets.randbelow(sides) + 1 for _ in range(count)]
        result = {
            "type": "roll",
            "room": frame["room"],
            "user": {"id": ctx.user.id, "username": ctx.user.username},
            "dice": frame["dice"],
            "rolls": rolls,
            "total": sum(rolls),
        }
        await self.services.hub.publish_ephemeral(frame["room"], result)
