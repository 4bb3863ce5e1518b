"""The broker envelope and the user events: what one node writes, another reads back."""

from __future__ import annotations

import pytest

from chatd.fanout import envelope, user_events
from chatd.fanout.envelope import Envelope
from chatd.fanout.user_events import JoinedRoom, LeftRoom, Revoked, UserFrame
from chatd.models import AccessClaims


@pytest.mark.parametrize(
    "header",
    [
        Envelope("node-a", seq=7),
        Envelope("node-a", exclude="conn-1"),
        Envelope("node-a", only="conn-2"),
        Envelope("node-a"),
    ],
)
def test_an_envelope_round_trips_with_the_frame_bytes_untouched(header: Envelope) -> None:
    data = b'{"type":"message","text":"a\\nb"}'
    assert envelope.decode(envelope.encode(header, data)) == (header, data)


def test_the_header_is_one_letter_keys_as_nodes_have_always_sent_it() -> None:
    # A node still running the version before the split sent "x": null on ephemeral frames.
    assert envelope.decode(b'{"x":null,"n":"b"}\n{}') == (Envelope("b"), b"{}")
    assert envelope.encode(Envelope("a", seq=3), b"{}") == b'{"s":3,"n":"a"}\n{}'


@pytest.mark.parametrize("payload", [b"not json\n{}", b"[1]\n{}"])
def test_a_malformed_header_is_a_value_error(payload: bytes) -> None:
    with pytest.raises(ValueError):
        envelope.decode(payload)


@pytest.mark.parametrize(
    "event",
    [
        JoinedRoom("lobby", {"id": "lobby", "name": "lobby"}),
        LeftRoom("lobby"),
        UserFrame({"type": "unread", "room": "lobby"}, exclude="conn-1"),
        UserFrame({"type": "mention"}),
        Revoked(jti="j1"),
        Revoked(version=3),
    ],
)
def test_a_user_event_round_trips(event: user_events.UserEvent) -> None:
    assert user_events.decode(user_events.encode(event)) == event


@pytest.mark.parametrize(
    "data", [b'{"kind":"dance"}', b'{"kind":"join"}', b'{"kind":"leave","room":5}', b"[]"]
)
def test_an_unknown_or_incomplete_user_event_is_a_value_error(data: bytes) -> None:
    with pytest.raises(ValueError):
        user_events.decode(data)


def test_revoked_covers_the_named_token_and_every_older_version() -> None:
    claims = AccessClaims(user_id="u", jti="j1", issued_at=0, expires_at=1, version=2)
    assert Revoked(jti="j1").covers(claims)
    assert not Revoked(jti="j2").covers(claims)
    assert Revoked(version=3).covers(claims)
    assert not Revoked(version=2).covers(claims)
