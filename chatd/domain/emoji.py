"""What counts as a reaction: one emoji (sequence) or a `:shortcode:`.

Checked by Unicode category rather than against an emoji list, so new emoji
work without an update: an emoji sequence is symbols (So, Sk) joined by the
characters emoji sequences use (ZWJ, variation selectors, skin tones, keycaps,
tags), with no letters, digits or spaces of their own beyond keycap bases.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final

#: A shortcode as chat clients write them: `:+1:`, `:tada:`, `:party_parrot:`.
_SHORTCODE: Final = re.compile(r"^:[a-z0-9_+\-]{1,62}:$")
#: The longest emoji sequences (families, flags of subdivisions) are ~10 code
#: points; 16 leaves room without admitting prose.
MAX_EMOJI_CODE_POINTS: Final = 16
#: Joiners and modifiers that only ever appear inside an emoji sequence.
_JOINERS: Final = frozenset({"\u200d", "\ufe0e", "\ufe0f", "\u20e3"})
#: Keycap bases (`#️⃣`, `1️⃣`) and tag characters (subdivision flags).
_KEYCAP_BASES: Final = frozenset("#*0123456789")


def _tag(char: str) -> bool:
    return "\U000e0020" <= char <= "\U000e007f"


def is_reaction(value: str) -> bool:
    """True for a single emoji sequence or a `:shortcode:`."""
    if _SHORTCODE.match(value):
        return True
    if not 0 < len(value) <= MAX_EMOJI_CODE_POINTS:
        return False
    symbols = 0
    for char in value:
        category = unicodedata.category(char)
        if category in ("So", "Sk"):
            symbols += 1
        elif not (char in _JOINERS or char in _KEYCAP_BASES or _tag(char)):
            return False
    # Keycaps are a base digit plus U+20E3; everything else needs a symbol.
    return symbols > 0 or "\u20e3" in value
