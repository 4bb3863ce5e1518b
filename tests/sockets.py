"""A stand-in for a socket's Connection, for tests that drive the hub without sockets.

The hub uses only these members of a Connection: its id and user, its room map
(where each room's live delivery starts) and the ways to send to it. This one
keeps what it is sent so a test can look.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from chatd.models import User
from chatd.util.clock import new_id


@dataclass(eq=False)  # hashable by identity, like a Connection
class RecordingSocket:
    user: User
    id: str = field(default_factory=new_id)
    rooms: dict[str, int | None] = field(default_factory=dict)
    #: Every frame it was sent (room events excepted), decoded.
    frames: list[dict[str, Any]] = field(default_factory=list)
    #: The seq of every room event it was sent, in order.
    room_events: list[int] = field(default_factory=list)

    def join_room(self, room_id: str, live_from: int | None) -> None:
        self.rooms[room_id] = live_from

    def leave_room(self, room_id: str) -> None:
        self.rooms.pop(room_id, None)

    def live_from(self, room_id: str) -> int | None:
        return self.rooms.get(room_id)

    def set_live_from(self, room_id: str, seq: int) -> None:
        self.rooms[room_id] = seq

    def send(self, frame: dict[str, Any]) -> None:
        self.frames.append(frame)

    def send_raw(self, data: bytes) -> None:
        self.frames.append(json.loads(data))

    def send_room_event(self, room_id: str, seq: int, data: bytes) -> None:
        self.room_events.append(seq)

    def of_type(self, frame_type: str) -> list[dict[str, Any]]:
        return [frame for frame in self.frames if frame["type"] == frame_type]
