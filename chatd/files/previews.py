"""Image previews: dimensions and a small, metadata-free thumbnail, made with Pillow.

Decoding is CPU work on hostile input, so it runs in a worker thread, a few at
a time, and refuses anything whose header claims more pixels than a chat
preview is worth (a 50,000 x 50,000 PNG is a few KB on disk and 10 GB in
memory). A file Pillow cannot decode (truncated, corrupt, a bomb) simply gets
no preview; it is still stored and shared as a download.
"""

from __future__ import annotations

import asyncio
import io
import logging
from dataclasses import dataclass
from typing import IO

from PIL import Image, ImageOps, features

logger = logging.getLogger(__name__)

#: Largest image decoded for a preview. 40 MP covers phone cameras and 8K
#: screenshots; decoding it peaks at ~160 MB (RGBA), so at most
#: `MAX_CONCURRENT` decode at once per node.
MAX_PIXELS = 40_000_000
#: Thumbnails fit in this box, preserving the aspect ratio.
THUMBNAIL_BOX = (400, 400)
MAX_CONCURRENT = 2

#: Pillow decoder per sniffed type: a PNG must decode as PNG, so a file can
#: never steer Pillow into one of its rarer, less hardened decoders.
_FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG", "image/gif": "GIF", "image/webp": "WEBP"}

#: WebP keeps alpha and is a third the size of PNG; every current browser shows it.
_WEBP = features.check("webp")
THUMBNAIL_TYPE = "image/webp" if _WEBP else "image/png"

#: EXIF orientations that swap width and height (rotated by 90 or 270 degrees).
_TRANSPOSED = frozenset({5, 6, 7, 8})
_ORIENTATION_TAG = 0x0112


@dataclass(frozen=True, slots=True)
class Preview:
    """The image as displayed (EXIF orientation applied) and its thumbnail bytes."""

    width: int
    height: int
    thumbnail: bytes
    thumbnail_type: str = THUMBNAIL_TYPE


class Previewer:
    """Makes previews off the event loop, bounding how many decode at once."""

    def __init__(self, max_concurrent: int = MAX_CONCURRENT) -> None:
        self._slots = asyncio.Semaphore(max_concurrent)

    async def preview(self, source: IO[bytes], content_type: str) -> Preview | None:
        """A preview of the image in `source` (a seekable file), or None if it will not do."""
        image_format = _FORMATS.get(content_type)
        if image_format is None:
            return None
        async with self._slots:
            return await asyncio.to_thread(make_preview, source, image_format)


def make_preview(source: IO[bytes], image_format: str) -> Preview | None:
    """Blocking: decode the first frame and build the thumbnail; None on any failure."""
    source.seek(0)
    try:
        with Image.open(source, formats=[image_format]) as image:
            width, height = image.size
            if width <= 0 or height <= 0 or width * height > MAX_PIXELS:
                logger.info("no preview: %dx%d is over %d pixels", width, height, MAX_PIXELS)
                return None
            orientation = image.getexif().get(_ORIENTATION_TAG)
            if orientation in _TRANSPOSED:
                width, height = height, width
            return Preview(width, height, _thumbnail(image))
    except Image.DecompressionBombError:
        logger.info("no preview: decompression bomb refused by Pillow")
    except Exception as exc:  # hostile input: any decoder failure means no preview
        logger.info("no preview: %s: %s", type(exc).__name__, exc)
    return None


def _thumbnail(image: Image.Image) -> bytes:
    # JPEG can decode straight at 1/2..1/8 scale: far less memory and time.
    image.draft("RGB", (THUMBNAIL_BOX[0] * 2, THUMBNAIL_BOX[1] * 2))
    image.seek(0)  # an animation's first frame
    oriented = ImageOps.exif_transpose(image)
    has_alpha = oriented.mode in ("RGBA", "LA", "PA") or "transparency" in oriented.info
    frame = oriented.convert("RGBA" if has_alpha else "RGB")
    frame.thumbnail(THUMBNAIL_BOX, Image.Resampling.LANCZOS, reducing_gap=2.0)
    # Saved with no exif/icc/xmp arguments and no inherited info, the thumbnail
    # carries no metadata: no GPS position, camera serial or edit history.
    frame.info = {}
    out = io.BytesIO()
    if _WEBP:
        frame.save(out, "WEBP", quality=80, method=4)
    else:
        frame.save(out, "PNG", optimize=True)
    return out.getvalue()
