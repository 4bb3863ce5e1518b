"""Events for all of one user's sockets, on every node, as typed records.

They travel on the user's broker channel (`user_channel`) as JSON objects with a
`kind`; `encode` and `decode` are the only places that spell that format.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chatd.models import AccessClaims
from chatd.util.jsonutil import dumpb, loads
from chatd.wire.frames import Frame


@dataclass(frozen=True, slots=True)
class JoinedRoom:
    """The user is a member of a room now: every socket starts receiving it."""

    room_id: str
    #: What the sockets' `joined` frame shows (frames.room_json, or a DM's view).
    info: dict[str, Any]


@dataclass(frozen=True, slots=True)
class LeftRoom:
    """The user left a room: every socket stops receiving it."""

    room_id: str


@dataclass(frozen=True, slots=True)
class UserFrame:
    """A frame for every socket of the user but `exclude` (the sender, answered directly)."""

    frame: Frame
    exclude: str | None = None


@dataclass(frozen=True, slots=True)
class Revoked:
    """Access tokens were revoked: one by its `jti` (logout), or every token
    issued before `version` (a password change)."""

    jti: str | None = None
    version: int | None = None

    def covers(self, claims: AccessClaims) -> bool:
        return (self.jti is not None and self.jti == claims.jti) or (
            self.version is not None and claims.version < self.version
        )


UserEvent = JoinedRoom | LeftRoom | UserFrame | Revoked


def encode(event: UserEvent) -> bytes:
    body: dict[str, Any]
    match event:
        case JoinedRoom(room_id, info):
            body = {"kind": "join", "room": room_id, "roomInfo": info}
        case LeftRoom(room_id):
            body = {"kind": "leave", "room": room_id}
        case UserFrame(frame, exclude):
            body = {"kind": "frame", "frame": frame}
            if exclude is not None:
                body["exclude"] = exclude
        case Revoked(jti, version):
            body = {"kind": "revoked"}
            if jti is not None:
                body["jti"] = jti
            if version is not None:
                body["version"] = version
    return dumpb(body)


def decode(data: bytes) -> UserEvent:
    """The event `encode` made; ValueError for anything else."""
    body = loads(data)
    if not isinstance(body, dict):
        raise ValueError("a user event is an object")
    try:
        match body.get("kind"):
            case "join":
                return JoinedRoom(_str(body["room"]), _object(body["roomInfo"]))
            case "leave":
                return LeftRoom(_str(body["room"]))
            case "frame":
                exclude = body.get("exclude")
                return UserFrame(_object(body["frame"]), None if exclude is None else _str(exclude))
            case "revoked":
                jti, version = body.get("jti"), body.get("version")
                return Revoked(
                    jti=None if jti is None else _str(jti),
                    version=None if version is None else int(version),
                )
    except (KeyError, TypeError) as exc:
        raise ValueError(f"malformed {body.get('kind')} event: {exc!r}") from None
    raise ValueError(f"unknown user event kind {body.get('kind')!r}")


def _str(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def _object(value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TypeError(f"expected an object, got {type(value).__name__}")
    return value
