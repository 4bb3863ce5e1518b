"""What an uploaded file is, judged from its bytes, and how it may be served.

The client's declared type and the file name's extension are never trusted for
anything that matters: the type comes from the first bytes (puremagic's
signature table plus a few refinements), and only an allowlist of media types
that browsers render without running script is ever served inline. Everything
else is a download with a neutral Content-Type.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import puremagic

from chatd.models import Attachment

logger = logging.getLogger(__name__)

#: How much of the start of a file the sniffer looks at. Signatures sit in the
#: first few bytes; Office documents name their parts early in the zip.
SNIFF_BYTES = 8192

OCTET_STREAM = "application/octet-stream"
TEXT_PLAIN = "text/plain"

#: Images chatd decodes for a preview (and then serves inline). SVG is absent
#: on purpose: it is a document that can carry script.
PREVIEW_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})

#: Audio and video that browsers play in <audio>/<video> and that cannot run script.
INLINE_MEDIA_TYPES = frozenset(
    {
        "audio/mpeg",
        "audio/ogg",
        "audio/wav",
        "audio/flac",
        "audio/mp4",
        "audio/webm",
        "video/mp4",
        "video/webm",
        "video/ogg",
    }
)

#: puremagic's names -> the names browsers and the web agree on.
_ALIASES = {
    "image/x-ms-bmp": "image/bmp",
    "image/x-bmp": "image/bmp",
    "audio/wave": "audio/wav",
    "audio/x-wav": "audio/wav",
    "audio/x-flac": "audio/flac",
    "audio/x-m4a": "audio/mp4",
    "application/ogg": "audio/ogg",
    "application/x-gzip": "application/gzip",
    "application/x-zip-compressed": "application/zip",
    "application/x-matroska": "video/x-matroska",
}

#: Zip containers that are documents, told apart by the part names near the start.
_ZIP_DOCUMENTS = (
    (b"word/", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    (b"xl/", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    (b"ppt/", "application/vnd.openxmlformats-officedocument.presentationml.presentation"),
    (b"mimetypeapplication/epub+zip", "application/epub+zip"),
    (b"mimetypeapplication/vnd.oasis.opendocument.text", "application/vnd.oasis.opendocument.text"),
    (
        b"mimetypeapplication/vnd.oasis.opendocument.spreadsheet",
        "application/vnd.oasis.opendocument.spreadsheet",
    ),
)

_ARCHIVES = frozenset(
    {
        "application/zip",
        "application/gzip",
        "application/x-tar",
        "application/x-7z-compressed",
        "application/x-rar-compressed",
        "application/vnd.rar",
        "application/x-bzip2",
        "application/x-xz",
        "application/zstd",
        "application/java-archive",
        "application/x-iso9660-image",
    }
)
_DOCUMENT_PREFIXES = (
    "application/vnd.openxmlformats-officedocument.",
    "application/vnd.oasis.opendocument.",
    "application/vnd.ms-",
)
_DOCUMENTS = frozenset(
    {"application/msword", "application/rtf", "text/rtf", "application/epub+zip", "text/csv"}
)
_CODE = frozenset(
    {
        "text/html",
        "application/xml",
        "text/xml",
        "application/json",
        "application/javascript",
        "text/javascript",
        "application/x-sh",
        "text/x-python",
        "text/css",
    }
)
#: Extensions that make a plain-text file "code" rather than "document". Only
#: ever used to pick an icon, so trusting the name here cannot hurt anyone.
_CODE_EXTENSIONS = frozenset(
    {
        "c", "h", "cc", "cpp", "hpp", "cs", "css", "go", "java", "js", "mjs", "ts", "tsx",
        "jsx", "json", "kt", "lua", "php", "pl", "py", "rb", "rs", "scala", "sh", "bash",
        "zsh", "sql", "swift", "toml", "yaml", "yml", "xml", "html", "htm", "vue", "svelte",
        "ini", "cfg", "conf", "diff", "patch", "dockerfile", "makefile",
    }
)  # fmt: skip

#: Openings that make a browser treat bytes as HTML (WHATWG MIME Sniffing).
_HTML_TAGS = tuple(
    b"<" + tag
    for tag in (
        b"!doctype html", b"html", b"head", b"script", b"iframe", b"h1", b"div", b"font",
        b"table", b"a", b"style", b"title", b"b", b"body", b"br", b"p",
    )
)  # fmt: skip

ICON_KINDS = ("pdf", "archive", "audio", "video", "image", "document", "code", "other")


def sniff(head: bytes) -> str:
    """The media type of a file from its first bytes (`SNIFF_BYTES` is plenty)."""
    if not head:
        return OCTET_STREAM
    markup = _markup_kind(head)
    if markup is not None:
        return markup
    try:
        matches = puremagic.magic_string(head)
    except (puremagic.PureError, ValueError):
        matches = []
    except Exception:  # a signature table bug must not fail an upload
        logger.exception("puremagic failed on an upload's first bytes")
        matches = []
    best = max(
        (m for m in matches if m.mime_type),
        key=lambda m: m.confidence,
        default=None,
    )
    if best is None:
        return TEXT_PLAIN if _looks_like_text(head) else OCTET_STREAM
    found = str(best.mime_type)
    kind = _ALIASES.get(found, found)
    if kind.startswith("application/vnd.openxmlformats") or kind == "application/zip":
        kind = _zip_kind(head)
    if kind in ("audio/ogg", "video/ogg"):
        kind = "video/ogg" if b"\x80theora" in head else "audio/ogg"
    if kind == "video/x-matroska" and b"webm" in head[:64]:
        kind = "video/webm"
    return kind


def _markup_kind(head: bytes) -> str | None:
    """HTML, SVG or XML by the rules browsers sniff with (WHATWG MIME Sniffing, 7.1).

    puremagic only knows markup that starts at the very first byte; a browser
    that ignored our headers would also accept leading whitespace and a BOM.
    """
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip(b" \t\n\r\x0c").lower()
    if text.startswith(b"<?xml"):
        return "image/svg+xml" if b"<svg" in text else "application/xml"
    if text.startswith(b"<svg"):
        return "image/svg+xml"
    for tag in _HTML_TAGS:
        if text.startswith(tag) and text[len(tag) : len(tag) + 1] in (b" ", b">"):
            return "text/html"
    if text.startswith(b"<!--"):
        return "text/html"
    return None


def _zip_kind(head: bytes) -> str:
    for marker, kind in _ZIP_DOCUMENTS:
        if marker in head:
            return kind
    return "application/zip"


def _looks_like_text(head: bytes) -> bool:
    """UTF-8 (or ASCII) without NULs; a multi-byte character cut at the end is fine."""
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start >= len(head) - 3 and exc.reason == "unexpected end of data"
    return True


@dataclass(frozen=True, slots=True)
class Serving:
    """How chatd (or S3, by presigned URL) serves a stored file."""

    content_type: str
    inline: bool


def has_preview(attachment: Attachment) -> bool:
    """True when the file is an image chatd decoded (dimensions known)."""
    return (
        attachment.content_type in PREVIEW_TYPES
        and attachment.width is not None
        and attachment.height is not None
    )


def serving(attachment: Attachment) -> Serving:
    """Inline only for decoded images and playable media; the rest downloads.

    An image that would not decode (truncated, a decompression bomb) is served
    as a download too: the browser would fail on it or, worse, try to allocate
    what its header claims.
    """
    kind = attachment.content_type
    if has_preview(attachment) or kind in INLINE_MEDIA_TYPES:
        return Serving(kind, inline=True)
    if kind == TEXT_PLAIN or kind in ("text/csv", "application/json"):
        return Serving("text/plain; charset=utf-8", inline=False)
    return Serving(OCTET_STREAM, inline=False)


def icon_kind(content_type: str, name: str) -> str:
    """Which icon a client shows for a file without a thumbnail (one of ICON_KINDS)."""
    if content_type == "application/pdf":
        return "pdf"
    if content_type in _ARCHIVES:
        return "archive"
    major = content_type.partition("/")[0]
    if major in ("audio", "video", "image"):
        return major
    if content_type in _DOCUMENTS or content_type.startswith(_DOCUMENT_PREFIXES):
        return "document"
    if content_type in _CODE or content_type.startswith("text/x-"):
        return "code"
    if content_type == TEXT_PLAIN:
        stem, _, extension = name.lower().rpartition(".")
        code = (extension if stem else name.lower()) in _CODE_EXTENSIONS
        return "code" if code else "document"
    return "other"
