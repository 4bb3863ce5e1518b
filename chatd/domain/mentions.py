"""@-mentions: which members a message's text names.

`@username` names a member of the room (any letter case); `@room` names every
member. Names of users who are not members of the room are plain text: a
mention never tells anyone about a room they cannot read.
"""

from __future__ import annotations

import re
from typing import Final

from chatd.models import Mention
from chatd.store import Store

#: `@room` mentions everyone; a user named "room" cannot be mentioned singly.
ROOM_WORD: Final = "room"
#: Usernames are 3-32 of letters, digits, `_`, `.`, `-` (chatd.auth.schemas). The
#: look-behind keeps e-mail addresses (`bob@example.com`) from counting.
_MENTION: Final = re.compile(r"(?<![\w@.])@([A-Za-z0-9_.\-]{3,32})")
#: Names resolved per message; a longer list is pasted text, not a conversation
#: (and each name costs a look-up).
MAX_MENTIONS: Final = 20


def mentioned_names(text: str) -> tuple[list[str], bool]:
    """The distinct names after `@` (first MAX_MENTIONS), and whether `@room` is there."""
    names: list[str] = []
    seen: set[str] = set()
    everyone = False
    for match in _MENTION.finditer(text):
        name = match.group(1)
        if name.rstrip(".-").casefold() == ROOM_WORD:
            everyone = True
        elif name.casefold() not in seen and len(names) < MAX_MENTIONS:
            seen.add(name.casefold())
            names.append(name)
    return names, everyone


async def resolve_mentions(
    store: Store, room_id: str, text: str
) -> tuple[tuple[Mention, ...], bool]:
    """The room's members the text names, and whether it names `@room`."""
    names, everyone = mentioned_names(text)
    found: list[Mention] = []
    for name in names:
        # "@bob." at the end of a sentence: the name is "bob" unless a user
        # is really called "bob.".
        user = await store.get_user_by_name(name)
        if user is None and name.rstrip(".-") != name:
            user = await store.get_user_by_name(name.rstrip(".-"))
        if user is None or any(m.user_id == user.id for m in found):
            continue
        if await store.is_member(room_id, user.id):
            found.append(Mention(user_id=user.id, username=user.username))
    return tuple(found), everyone
