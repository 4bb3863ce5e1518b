"""typing: tell the other members someone is typing; never stored, coalesced per user."""

from __future__ import annotations

import time
from typing import Any

from chatd.handlers.base import FrameContext, Handler, RateLimit, RoomFrameSchema
from chatd.wire import frames

#: Clients send `typing` on keystrokes; one broadcast per user and room per this
#: many seconds is enough for an indicator that expires on clients after ~5 s.
TYPING_INTERVAL_SECONDS = 2.0
_MAX_TRACKED = 10_000


class TypingHandler(Handler):
    frame_type = "typing"
    schema = RoomFrameSchema
    requires_membership = True
    rate_limit = RateLimit(burst=30, per_second=10)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._last: dict[tuple[str, str], float] = {}

    async def handle(self, ctx: FrameContext, frame: dict[str, Any]) -> None:
        now = time.monotonic()
        key = (ctx.user.id, frame["room"])
        if now - self._last.get(key, -TYPING_INTERVAL_SECONDS) < TYPING_INTERVAL_SECONDS:
            return  # coalesced: the others already know, the indicator is still on
        if len(self._last) > _MAX_TRACKED:
            self._last = {k: t for k, t in self._last.items() if now - t < TYPING_INTERVAL_SECONDS}
        self._last[key] = now
        await self.services.hub.publish_ephemeral(
            frame["room"],
            frames.typing(frame["room"], ctx.user.id, ctx.user.username),
            exclude=ctx.conn,
        )
