"""The emoji list the web client's picker and `:` autocomplete use.

The data comes from the maintained PyPI package `emoji` (Unicode's emoji-test
data plus GitHub/Slack-style aliases), so a `pip install -U emoji` brings new
Unicode releases; nothing is hand-typed or vendored. The catalog is built once
at start-up and served as one compact, gzip-compressed, immutably cached JSON
document whose URL carries the package version.
"""

from __future__ import annotations

from dataclasses import dataclass

import emoji

from chatd.util.jsonutil import dumpb

#: Skin-tone and hair variants multiply the list by ~3 without adding anything a
#: picker without a tone selector can show; the base emoji are kept.
_VARIANT_MARKERS = ("skin_tone", "_hair")
#: Newer emoji render as several glyphs (or boxes) where the system font lacks them;
#: Emoji 15.0 (2022) is what current Windows, macOS, Android and Noto Color Emoji all have.
MAX_EMOJI_VERSION = 15.0
#: Browsing order: smileys (Emoticons block) first, then the Supplemental
#: Symbols and Pictographs faces and gestures, then everything by code point.
_FIRST_BLOCKS = ((0x1F600, 0x1F64F), (0x1F900, 0x1F9FF))


def _browse_key(char: str) -> tuple[int, list[int]]:
    points = [ord(c) for c in char]
    for rank, (low, high) in enumerate(_FIRST_BLOCKS):
        if low <= points[0] <= high:
            return rank, points
    return len(_FIRST_BLOCKS), points


@dataclass(frozen=True, slots=True)
class EmojiCatalog:
    """The serialized catalog and the version that names it in URLs."""

    version: str
    body: bytes
    count: int


def _shortcode(name: str) -> str:
    """`:thumbs_up:` -> `thumbs_up` (lower case: what people type after `:`)."""
    return name.strip(":").lower()


def build_catalog() -> EmojiCatalog:
    """Fully-qualified emoji up to Emoji 15.0, without tone variants, smileys first.

    Each entry is `[char, name, [aliases...]]`; code-point order keeps related
    emoji together (faces, animals, food...) for browsing, and search uses the
    names and aliases.
    """
    fully_qualified = emoji.STATUS["fully_qualified"]
    entries: list[list[object]] = []
    for char, data in emoji.EMOJI_DATA.items():
        if data.get("status") != fully_qualified or float(data.get("E", 0)) > MAX_EMOJI_VERSION:
            continue
        name = _shortcode(str(data["en"]))
        if any(marker in name for marker in _VARIANT_MARKERS):
            continue
        aliases = sorted({_shortcode(a) for a in data.get("alias", ())} - {name})
        entries.append([char, name, aliases])
    entries.sort(key=lambda entry: _browse_key(str(entry[0])))
    body = dumpb({"version": emoji.__version__, "emoji": entries})
    return EmojiCatalog(version=emoji.__version__, body=body, count=len(entries))
