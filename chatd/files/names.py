"""File names from uploads and the object keys chatd stores files under.

A client's file name is shown to people, so it is kept (cleaned of characters
that can spoof or break a display) but it never becomes part of a storage key
or a path: keys are generated here from random ids. The name offered to a
browser when downloading is a further sanitized copy.
"""

from __future__ import annotations

import hashlib
import re
import secrets

from chatd.util.text import one_line

#: Longest display name kept (characters), as most file systems allow.
MAX_NAME_CHARS = 255
#: Longest extension preserved when a name is cut to fit.
_MAX_EXTENSION_CHARS = 16
#: What a file with no usable name is called.
FALLBACK_NAME = "file"

#: Characters Windows refuses in file names (and `/`, which no OS accepts).
_UNSAFE_ON_DISK = re.compile(r'[<>:"|?*/\\]')
#: Names Windows reserves whatever the extension (`con.txt` cannot be saved).
_RESERVED = frozenset(
    {"con", "prn", "aux", "nul"}
    | {f"com{i}" for i in range(1, 10)}
    | {f"lpt{i}" for i in range(1, 10)}
)
_SAFE_ROOM_SEGMENT = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def display_name(raw: str | None) -> str:
    """The name people see: cleaned as any name is (chatd.text.one_line: NFC, no
    control, bidi or invisible characters, one line), at most 255 chars.

    Slashes are kept: this is text, never a path (`../../etc/passwd` is shown
    as typed, and stored under a generated key).
    """
    return _cut(one_line(raw or ""), MAX_NAME_CHARS) or FALLBACK_NAME


def download_name(name: str) -> str:
    """The name offered when saving: the last path segment, safe on every OS."""
    base = re.split(r"[/\\]", name)[-1]
    base = _UNSAFE_ON_DISK.sub("_", base)
    # Leading dots hide a file (or make `..`); trailing dots and spaces are
    # dropped by Windows, which would change the extension people see.
    base = base.lstrip(". ").rstrip(". ")
    if not base:
        return FALLBACK_NAME
    if base.split(".", 1)[0].lower() in _RESERVED:
        base = f"_{base}"
    return _cut(base, MAX_NAME_CHARS)


def _cut(name: str, limit: int) -> str:
    """Shorten to `limit` characters, keeping a short extension (`aaaa....png`)."""
    if len(name) <= limit:
        return name
    stem, dot, extension = name.rpartition(".")
    if dot and stem and 0 < len(extension) <= _MAX_EXTENSION_CHARS:
        return stem[: limit - len(extension) - 1].rstrip() + "." + extension
    return name[:limit].rstrip()


def upload_prefix(room_id: str) -> str:
    """A fresh key prefix for one upload request: `files/<room>/<random>`.

    Room ids are already safe (`general`, generated hex ids); any other id is
    hashed rather than trusted to be a valid key segment.
    """
    segment = (
        room_id
        if _SAFE_ROOM_SEGMENT.match(room_id)
        else hashlib.sha256(room_id.encode()).hexdigest()[:32]
    )
    return f"files/{segment}/{secrets.token_hex(12)}"


def file_key(prefix: str, index: int) -> str:
    """The key of the `index`th file of an upload, with an unguessable suffix."""
    return f"{prefix}/{index}-{secrets.token_hex(8)}"


#: Thumbnail formats by key suffix, so serving one needs no stored type.
THUMBNAIL_SUFFIXES = {"image/webp": ".webp", "image/png": ".png", "image/jpeg": ".jpg"}


def thumbnail_key(key: str, content_type: str) -> str:
    """The key of a file's thumbnail; its suffix records the thumbnail's format."""
    return f"{key}-thumb{THUMBNAIL_SUFFIXES[content_type]}"


def thumbnail_type(key: str) -> str:
    """The media type of a thumbnail stored under `key` (see thumbnail_key)."""
    for content_type, suffix in THUMBNAIL_SUFFIXES.items():
        if key.endswith(suffix):
            return content_type
    return "application/octet-stream"
