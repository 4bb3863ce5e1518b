"""Call frames: membership (`call-join`, `call-leave`, `call-state`, `call-decline`)
and WebRTC signaling relayed to one peer (`webrtc-offer`, `webrtc-answer`, `webrtc-ice`).

The server never looks inside an SDP: it checks who may talk to whom (both ends
in the room's call), the payload's shape and size, and relays. Membership state
lives in chatd/calls.py.
"""

from __future__ import annotations

from typing import Any, ClassVar

from marshmallow import Schema, fields, validate

from chatd.domain.calls import Calls
from chatd.handlers.base import (
    FrameContext,
    FrameError,
    FrameSchema,
    Handler,
    RateLimit,
    RoomFrameSchema,
    room_field,
)
from chatd.wire import frames

#: Largest SDP accepted. Audio + video + a screen track with every codec Chrome
#: offers is ~8-12 KB; 32 KB leaves room for simulcast while keeping a
#: misbehaving client from pushing large blobs through every node.
MAX_SDP_CHARS = 32 * 1024
#: An ICE candidate line is ~100-250 characters.
MAX_CANDIDATE_CHARS = 1024
#: Session ids are the server's own connection ids (32 hex characters today).
_SESSION = validate.Length(min=1, max=64)


def _flag(**kwargs: Any) -> fields.Boolean:
    """A JSON true/false only (marshmallow would also take "yes", 1, "off"...)."""
    return fields.Boolean(truthy={True}, falsy={False}, **kwargs)


class CallJoinSchema(RoomFrameSchema):
    audio = _flag(load_default=True)
    video = _flag(load_default=False)


class CallStateSchema(RoomFrameSchema):
    muted = _flag()
    camera = _flag()
    screen = _flag()


class _SignalSchema(FrameSchema):
    room = room_field()
    to = fields.String(validate=_SESSION)


class SdpSignalSchema(_SignalSchema):
    sdp = fields.String(required=True, validate=validate.Length(min=1, max=MAX_SDP_CHARS))


class IceCandidateSchema(FrameSchema):
    """RTCIceCandidateInit; an empty `candidate` is the end-of-candidates marker."""

    candidate = fields.String(required=True, validate=validate.Length(max=MAX_CANDIDATE_CHARS))
    sdpMid = fields.String(allow_none=True, validate=validate.Length(max=64))
    sdpMLineIndex = fields.Integer(
        allow_none=True, strict=True, validate=validate.Range(min=0, max=1023)
    )
    usernameFragment = fields.String(allow_none=True, validate=validate.Length(max=256))


class IceSignalSchema(_SignalSchema):
    candidate = fields.Nested(IceCandidateSchema, required=True)


class _CallHandler(Handler):
    requires_membership = True

    @property
    def calls(self) -> Calls:
        return self.services.calls


class CallJoinHandler(_CallHandler):
    """Join the room's call (or update one's media in it); the 7th joiner is refused."""

    frame_type = "call-join"
    schema = CallJoinSchema
    rate_limit = RateLimit(burst=10, per_second=1)

    async def handle(self, ctx: FrameContext, frame: dict[str, Any]) -> None:
        snapshot = await self.calls.join(
            ctx.conn, frame["room"], audio=frame["audio"], video=frame["video"]
        )
        ctx.reply(snapshot.frame())


class CallLeaveHandler(_CallHandler):
    frame_type = "call-leave"
    schema = RoomFrameSchema
    rate_limit = RateLimit(burst=10, per_second=1)

    async def handle(self, ctx: FrameContext, frame: dict[str, Any]) -> None:
        snapshot = await self.calls.leave(ctx.conn, frame["room"])
        if snapshot is None:
            raise FrameError("not_in_call", "you are not in this room's call")
        ctx.reply(snapshot.frame())


class CallStateHandler(_CallHandler):
    """Mute, camera and screen-share flags, shown to everyone in the room."""

    frame_type = "call-state"
    schema = CallStateSchema
    rate_limit = RateLimit(burst=20, per_second=5)

    async def handle(self, ctx: FrameContext, frame: dict[str, Any]) -> None:
        snapshot = await self.calls.update(
            ctx.conn,
            frame["room"],
            muted=frame.get("muted"),
            camera=frame.get("camera"),
            screen=frame.get("screen"),
        )
        ctx.reply(snapshot.frame())


class CallDeclineHandler(_CallHandler):
    """Turn down a DM call that is ringing this user (every tab stops ringing)."""

    frame_type = "call-decline"
    schema = RoomFrameSchema
    rate_limit = RateLimit(burst=5, per_second=1)

    async def handle(self, ctx: FrameContext, frame: dict[str, Any]) -> None:
        await self.calls.decline(ctx.conn, frame["room"])


class _SignalHandler(_CallHandler):
    """Relay a payload to `to` (or, without `to`, every other participant)."""

    kind: ClassVar[str]
    payload_fields: ClassVar[tuple[str, ...]]

    async def handle(self, ctx: FrameContext, frame: dict[str, Any]) -> None:
        room_id = frame["room"]
        targets = await self.calls.signal_targets(ctx.conn, room_id, frame.get("to"))
        payload = {name: frame[name] for name in self.payload_fields}
        signal = frames.webrtc(
            self.kind,
            room_id,
            payload,
            from_session=ctx.conn.id,
            user_id=ctx.user.id,
            username=ctx.user.username,
        )
        for session in targets:
            await self.services.hub.publish_ephemeral(room_id, signal, only=session)


class OfferHandler(_SignalHandler):
    frame_type = "webrtc-offer"
    schema: ClassVar[type[Schema]] = SdpSignalSchema
    kind = "offer"
    payload_fields = ("sdp",)
    rate_limit = RateLimit(burst=20, per_second=5)


class AnswerHandler(_SignalHandler):
    frame_type = "webrtc-answer"
    schema: ClassVar[type[Schema]] = SdpSignalSchema
    kind = "answer"
    payload_fields = ("sdp",)
    rate_limit = RateLimit(burst=20, per_second=5)


class IceHandler(_SignalHandler):
    frame_type = "webrtc-ice"
    schema: ClassVar[type[Schema]] = IceSignalSchema
    kind = "ice"
    payload_fields = ("candidate",)
    # A peer gathers a few dozen candidates per connection, in bursts, to up to
    # five peers; renegotiation (screen share) repeats it.
    rate_limit = RateLimit(burst=300, per_second=50)
