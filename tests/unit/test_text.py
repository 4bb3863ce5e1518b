"""Cleaning of one-line names people see (files, rooms, topics), without a server."""

from __future__ import annotations

import pytest

from chatd.util.text import one_line

ENGLAND = "\U0001f3f4\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f"
FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467"


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("general", "general"),
        ("pay\u202eroll", "payroll"),  # right-to-left override
        ("a\u202ab\u202bc\u202cd\u202de", "abcde"),  # embeddings and pop
        ("a\u2066b\u2067c\u2068d\u2069e", "abcde"),  # isolates
        ("a\u200eb\u200fc\u061cd", "abcd"),  # directional marks
        ("gen\u200beral\u2060\ufeff\u00ad", "general"),  # zero-width, joiner, BOM, soft hyphen
        ("nul\x00esc\x1b[31mdel\x7f", "nulesc[31mdel"),
        ("two\r\nlines\u2028here\tnow", "two lines here now"),
        ("  padded   out  ", "padded out"),
        ("e\u0301te\u0301", "\u00e9t\u00e9"),  # NFC
        (FAMILY, FAMILY),  # zero-width joiners build emoji
        (ENGLAND, ENGLAND),  # tag characters build subdivision flags
        (
            "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",
            "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",
        ),
        ("\u202e\u200b\x00\r\n", ""),
    ],
)
def test_one_line(raw: str, shown: str) -> None:
    assert one_line(raw) == shown
