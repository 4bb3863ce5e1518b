"""One-line text that people see as a name: file names, room names, topics.

Such text is shown next to other people's, so it must not be able to look like
something it is not: `invoice\u202egpj.exe` displays as `invoiceexe.jpg`, a
zero-width space makes `general` and `gen\u200beral` two names that look one,
and a newline or NUL breaks the line it is shown on.
"""

from __future__ import annotations

import unicodedata
from typing import Final

#: Format characters (Unicode category Cf) that stay: zero-width non-joiner and
#: joiner (Persian and Indic spelling, emoji sequences such as families).
_KEPT_FORMAT: Final = frozenset("\u200c\u200d")
#: Tag characters, which spell the subdivision flags (England, Scotland, Wales).
_TAGS: Final = range(0xE0020, 0xE0080)
#: Dropped categories: controls (NUL, ESC, CR/LF...) and lone surrogates.
_DROPPED_CATEGORIES: Final = frozenset({"Cc", "Cs"})


def one_line(raw: str) -> str:
    """NFC text with no control characters and no invisible format characters
    (bidi overrides, embeddings, isolates and marks U+200E/F, U+061C, U+202A-E,
    U+2066-9; zero-width space; word joiner; BOM; soft hyphen...), except the
    joiners and tags above; any whitespace run (tab, newline, U+2028...) is one
    space, and none leads or trails. May be empty."""
    kept = []
    for ch in unicodedata.normalize("NFC", raw):
        category = unicodedata.category(ch)
        if ch.isspace():
            kept.append(" ")
        elif category in _DROPPED_CATEGORIES:
            continue
        elif category != "Cf" or ch in _KEPT_FORMAT or ord(ch) in _TAGS:
            kept.append(ch)
    return " ".join("".join(kept).split())
