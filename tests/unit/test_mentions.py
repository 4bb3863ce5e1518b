"""Which names a message's text @-mentions (the parsing half; resolution needs a store)."""

from __future__ import annotations

import pytest

from chatd.domain.mentions import MAX_MENTIONS, mentioned_names


@pytest.mark.parametrize(
    ("text", "names", "everyone"),
    [
        ("hi @bob", ["bob"], False),
        ("@Bob and @bob and @BOB", ["Bob"], False),
        ("@alice, @bob.", ["alice", "bob."], False),
        ("mail bob@example.com", [], False),
        ("@room lunch!", [], True),
        ("@Room.", [], True),
        ("@al is too short", [], False),
        ("@@bob", [], False),
        ("(@carol_x-y)", ["carol_x-y"], False),
    ],
)
def test_mentioned_names(text: str, names: list[str], everyone: bool) -> None:
    assert mentioned_names(text) == (names, everyone)


def test_at_most_max_mentions_names_are_taken() -> None:
    text = " ".join(f"@user{i:03d}" for i in range(MAX_MENTIONS + 5))
    names, _ = mentioned_names(text)
    assert names == [f"user{i:03d}" for i in range(MAX_MENTIONS)]
