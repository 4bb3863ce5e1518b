"""What a reaction may be: one emoji sequence or a :shortcode:."""

from __future__ import annotations

import pytest

from chatd.domain.emoji import is_reaction


@pytest.mark.parametrize(
    "value",
    ["👍", "❤️", "👍🏽", "👨‍👩‍👧‍👦", "🇫🇷", "1️⃣", "#️⃣", "🏴󠁧󠁢󠁳󠁣󠁴󠁿", ":+1:", ":party_parrot:", ":a-b:"],
)
def test_emoji_and_shortcodes_are_reactions(value: str) -> None:
    assert is_reaction(value)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "a",
        "hello",
        "👍 ",
        " 👍",
        "👍 👍",
        "::",
        ":Caps:",
        ":with space:",
        "1",
        "\u200d",
        "👍" * 17,
    ],
)
def test_words_spaces_and_long_strings_are_not(value: str) -> None:
    assert not is_reaction(value)
