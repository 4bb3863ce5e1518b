"""Image files for the file-sharing tests, made in memory with Pillow (and by hand for the hostile ones)."""

from __future__ import annotations

import io
import random
import struct
import zlib

from PIL import Image

ORIENTATION = 0x0112
GPS_IFD = 0x8825


def png(width: int = 64, height: int = 48, color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, "PNG")
    return out.getvalue()


def noisy_png(width: int, height: int, seed: int = 0) -> bytes:
    """A PNG that does not compress away, so cutting it really truncates pixel data."""
    data = random.Random(seed).randbytes(width * height * 3)
    out = io.BytesIO()
    Image.frombytes("RGB", (width, height), data).save(out, "PNG")
    return out.getvalue()


def jpeg_with_exif(width: int, height: int, orientation: int) -> bytes:
    """A JPEG stored `width` x `height` with an EXIF orientation and a GPS position."""
    image = Image.new("RGB", (width, height), (20, 120, 220))
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    exif[0x010F] = "ChatdCam"  # Make
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (52.0, 31.0, 12.0), 3: "E", 4: (13.0, 24.0, 36.0)})
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes(), quality=90)
    return out.getvalue()


def animated_gif() -> bytes:
    """Two frames: red first, then blue."""
    frames = [Image.new("RGB", (40, 40), c) for c in ((255, 0, 0), (0, 0, 255))]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return out.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A tiny valid-looking PNG whose header claims `width` x `height` pixels."""
    real = png(1, 1)
    ihdr_at = real.index(b"IHDR")
    fields = bytearray(real[ihdr_at + 4 : ihdr_at + 17])
    fields[0:8] = struct.pack(">II", width, height)
    crc = struct.pack(">I", zlib.crc32(b"IHDR" + bytes(fields)) & 0xFFFFFFFF)
    return real[: ihdr_at + 4] + bytes(fields) + crc + real[ihdr_at + 21 :]


def truncated_png() -> bytes:
    whole = noisy_png(300, 300)
    return whole[: len(whole) // 2]
