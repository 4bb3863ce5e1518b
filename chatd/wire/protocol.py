"""Schemas of every frame the server sends (the reference for docs/protocol.md).

The tests validate every frame they receive against these, so a frame builder
in chatd/frames.py cannot drift from the documented protocol unnoticed.
"""

from __future__ import annotations

from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from chatd.files.kinds import ICON_KINDS
from chatd.files.names import MAX_NAME_CHARS as MAX_FILE_NAME


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class UserRefSchema(_Strict):
    id = fields.String(required=True)
    username = fields.String(required=True)


class RoomInfoSchema(_Strict):
    id = fields.String(required=True)
    name = fields.String(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(["public", "private", "dm"]))
    private = fields.Boolean(required=True)
    topic = fields.String(required=True)
    createdBy = fields.String(allow_none=True, required=True)
    createdAt = fields.Integer(required=True)
    voice = fields.Boolean()
    lastSeq = fields.Integer()
    member = fields.Boolean()
    # The caller's read state (ready, joined, DM listings).
    lastRead = fields.Integer()
    unread = fields.Integer()
    mentions = fields.Integer()
    # DMs: who is in it, and when it last had a message.
    members = fields.List(fields.Nested(UserRefSchema))
    lastActivity = fields.Integer()
    readPositions = fields.Dict(keys=fields.String(), values=fields.Integer())


class _Framed(_Strict):
    type = fields.String(required=True)
    ref = fields.String()


class ReadySchema(_Framed):
    user = fields.Nested(UserRefSchema, required=True)
    session = fields.String(required=True)
    rooms = fields.List(fields.Nested(RoomInfoSchema), required=True)
    #: The store's epoch: seqs of another epoch mean nothing here (a restore).
    epoch = fields.String(required=True)


class AckSchema(_Framed):
    id = fields.String(required=True)
    seq = fields.Integer(required=True, validate=validate.Range(min=1))


class ErrorFrameSchema(_Framed):
    code = fields.String(required=True)
    message = fields.String(required=True)
    field_errors = fields.Raw(data_key="fields")
    retryAfter = fields.Float()


class ReactionCountSchema(_Strict):
    emoji = fields.String(required=True)
    count = fields.Integer(required=True, validate=validate.Range(min=1))
    me = fields.Boolean(required=True)


class FileSchema(_Strict):
    """One attachment: previewable images carry width/height/thumbUrl, others an icon."""

    url = fields.String(required=True)
    name = fields.String(required=True, validate=validate.Length(min=1, max=MAX_FILE_NAME))
    size = fields.Integer(required=True, validate=validate.Range(min=1))
    type = fields.String(required=True)
    width = fields.Integer(validate=validate.Range(min=1))
    height = fields.Integer(validate=validate.Range(min=1))
    thumbUrl = fields.String()
    icon = fields.String(validate=validate.OneOf(ICON_KINDS))


class MessageFrameSchema(_Framed):
    room = fields.String(required=True)
    id = fields.String(required=True)
    seq = fields.Integer(required=True, validate=validate.Range(min=1))
    user = fields.Nested(UserRefSchema, required=True)
    text = fields.String(required=True)
    ts = fields.Integer(required=True)
    messageType = fields.String(required=True, validate=validate.OneOf(["text", "file"]))
    nonce = fields.String()
    threadId = fields.String()
    editedAt = fields.Integer()
    threadCount = fields.Integer(validate=validate.Range(min=1))
    threadLastTs = fields.Integer()
    mentions = fields.List(fields.Nested(UserRefSchema))
    mentionsRoom = fields.Boolean()
    reactions = fields.List(fields.Nested(ReactionCountSchema))
    fileUrl = fields.String()
    fileName = fields.String()
    fileSize = fields.Integer()
    fileType = fields.String()
    files = fields.List(fields.Nested(FileSchema))


class MessageUpdateSchema(_Framed):
    room = fields.String(required=True)
    id = fields.String(required=True)
    seq = fields.Integer(required=True, validate=validate.Range(min=1))
    text = fields.String(required=True)
    editedAt = fields.Integer(required=True)
    mentions = fields.List(fields.Nested(UserRefSchema))
    mentionsRoom = fields.Boolean()


class MessageDeleteSchema(_Framed):
    room = fields.String(required=True)
    id = fields.String(required=True)
    seq = fields.Integer(required=True, validate=validate.Range(min=1))


class ReactionSchema(_Framed):
    room = fields.String(required=True)
    id = fields.String(required=True)
    seq = fields.Integer(required=True, validate=validate.Range(min=1))
    emoji = fields.String(required=True)
    user = fields.Nested(UserRefSchema, required=True)
    op = fields.String(required=True, validate=validate.OneOf(["add", "remove"]))


class ReadSchema(_Framed):
    room = fields.String(required=True)
    user = fields.Nested(UserRefSchema, required=True)
    seq = fields.Integer(required=True, validate=validate.Range(min=0))


class UnreadSchema(_Framed):
    room = fields.String(required=True)
    count = fields.Integer(required=True, validate=validate.Range(min=0))
    mentions = fields.Integer(required=True, validate=validate.Range(min=0))
    lastRead = fields.Integer(required=True, validate=validate.Range(min=0))


class MentionSchema(_Framed):
    room = fields.String(required=True)
    id = fields.String(required=True)
    seq = fields.Integer(required=True, validate=validate.Range(min=1))
    user = fields.Nested(UserRefSchema, required=True)
    text = fields.String(required=True)
    ts = fields.Integer(required=True)
    threadId = fields.String()


class PresenceSchema(_Framed):
    room = fields.String(required=True)
    users = fields.List(fields.Nested(UserRefSchema), required=True)


class TypingSchema(_Framed):
    room = fields.String(required=True)
    user = fields.Nested(UserRefSchema, required=True)


class JoinedSchema(_Framed):
    room = fields.Nested(RoomInfoSchema, required=True)


class LeftSchema(_Framed):
    room = fields.String(required=True)


class ResumedSchema(_Framed):
    rooms = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)


class PongSchema(_Framed):
    pass


class ReauthedSchema(_Framed):
    expiresIn = fields.Integer(required=True)


class CallParticipantSchema(_Strict):
    session = fields.String(required=True)
    user = fields.Nested(UserRefSchema, required=True)
    muted = fields.Boolean(required=True)
    camera = fields.Boolean(required=True)
    screen = fields.Boolean(required=True)


class CallSchema(_Framed):
    room = fields.String(required=True)
    rev = fields.Integer(required=True, validate=validate.Range(min=0))
    audioOnly = fields.Boolean(required=True)
    maxParticipants = fields.Integer(required=True)
    participants = fields.List(fields.Nested(CallParticipantSchema), required=True)


class _SignalSchema(_Framed):
    room = fields.String(required=True)
    from_ = fields.String(required=True, data_key="from")
    fromUser = fields.Nested(UserRefSchema, required=True)


class SdpSignalSchema(_SignalSchema):
    sdp = fields.String(required=True)


class IceCandidateSchema(_Strict):
    candidate = fields.String(required=True)
    sdpMid = fields.String(allow_none=True)
    sdpMLineIndex = fields.Integer(allow_none=True)
    usernameFragment = fields.String(allow_none=True)


class IceSignalSchema(_SignalSchema):
    candidate = fields.Nested(IceCandidateSchema, required=True)


class CallRingSchema(_Framed):
    room = fields.String(required=True)
    from_ = fields.Nested(UserRefSchema, required=True, data_key="from")
    session = fields.String(required=True)


class CallRingEndSchema(_Framed):
    room = fields.String(required=True)
    reason = fields.String(
        required=True, validate=validate.OneOf(["answered", "declined", "missed"])
    )
    from_ = fields.Nested(UserRefSchema, required=True, data_key="from")
    user = fields.Nested(UserRefSchema)


#: Frame type -> schema. Plugins' frames are checked by their own tests.
SERVER_FRAMES: dict[str, type[Schema]] = {
    "ready": ReadySchema,
    "ack": AckSchema,
    "error": ErrorFrameSchema,
    "message": MessageFrameSchema,
    "message-update": MessageUpdateSchema,
    "message-delete": MessageDeleteSchema,
    "reaction": ReactionSchema,
    "read": ReadSchema,
    "unread": UnreadSchema,
    "mention": MentionSchema,
    "presence": PresenceSchema,
    "typing": TypingSchema,
    "joined": JoinedSchema,
    "left": LeftSchema,
    "resumed": ResumedSchema,
    "pong": PongSchema,
    "reauthed": ReauthedSchema,
    "call": CallSchema,
    "webrtc-offer": SdpSignalSchema,
    "webrtc-answer": SdpSignalSchema,
    "webrtc-ice": IceSignalSchema,
    "call-ring": CallRingSchema,
    "call-ring-end": CallRingEndSchema,
}


def check_server_frame(frame: Any) -> None:
    """Raise ValidationError unless `frame` is a documented server frame."""
    if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
        raise ValidationError("a frame is an object with a string type")
    schema = SERVER_FRAMES.get(frame["type"])
    if schema is None:
        raise ValidationError(f"undocumented server frame type {frame['type']!r}")
    schema().load(frame)
