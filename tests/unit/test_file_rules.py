"""File names, type sniffing, serving rules and previews, without a server."""

from __future__ import annotations

import io
import zipfile

import pytest
from PIL import Image

from chatd.files.kinds import ICON_KINDS, icon_kind, serving, sniff
from chatd.files.names import (
    MAX_NAME_CHARS,
    display_name,
    download_name,
    file_key,
    thumbnail_key,
    thumbnail_type,
    upload_prefix,
)
from chatd.files.previews import MAX_PIXELS, make_preview
from chatd.models import Attachment
from tests import images


# -- names ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("photo.png", "photo.png"),
        ("../../etc/passwd", "../../etc/passwd"),  # shown as typed, never a path
        ("a\x00b\x1bc\x7f.txt", "abc.txt"),
        ("invoice\u202egpj.exe", "invoicegpj.exe"),  # no right-to-left override spoofing
        ("in\u200bvoice\ufeff.pdf", "invoice.pdf"),  # nor invisible characters
        ("line\nbreak\ttab.txt", "line break tab.txt"),
        ("  spaced   out  ", "spaced out"),
        ("e\u0301te\u0301.txt", "\u00e9t\u00e9.txt"),  # NFC
        (
            "\U0001f468\u200d\U0001f469\u200d\U0001f467.png",
            "\U0001f468\u200d\U0001f469\u200d\U0001f467.png",
        ),
        ("", "file"),
        (None, "file"),
        ("\x00\x01", "file"),
    ],
)
def test_display_name(raw, shown):
    assert display_name(raw) == shown


def test_long_names_are_cut_keeping_the_extension():
    name = display_name("a" * 10_000 + ".png")
    assert len(name) == MAX_NAME_CHARS and name.endswith("a.png")
    assert len(display_name("b" * 10_000)) == MAX_NAME_CHARS
    assert display_name("x." + "y" * 300) == ("x." + "y" * 300)[:MAX_NAME_CHARS]


@pytest.mark.parametrize(
    ("name", "saved"),
    [
        ("photo.png", "photo.png"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\secret.doc", "secret.doc"),
        ("..", "file"),
        (".bashrc", "bashrc"),
        ("what?.txt.", "what_.txt"),
        ('a<b>:"c|d*.txt', "a_b___c_d_.txt"),
        ("con.txt", "_con.txt"),
        ("LPT1", "_LPT1"),
        ("résumé.pdf", "résumé.pdf"),
    ],
)
def test_download_name(name, saved):
    assert download_name(name) == saved


def test_keys_are_generated_not_derived_from_input():
    prefix = upload_prefix("general")
    assert prefix.startswith("files/general/")
    assert upload_prefix("general") != prefix
    hashed = upload_prefix("../../x")
    assert ".." not in hashed and hashed.count("/") == 2
    key = file_key(prefix, 3)
    assert key.startswith(prefix + "/3-")
    assert thumbnail_type(thumbnail_key(key, "image/webp")) == "image/webp"
    assert thumbnail_type(thumbnail_key(key, "image/png")) == "image/png"


# -- sniffing ------------------------------------------------------------------------
def _zip(*names: str) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name in names:
            archive.writestr(name, "x")
    return out.getvalue()


def _image(fmt: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8)).save(out, fmt)
    return out.getvalue()


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (_image("PNG"), "image/png"),
        (_image("JPEG"), "image/jpeg"),
        (_image("GIF"), "image/gif"),
        (_image("WEBP"), "image/webp"),
        (_image("BMP"), "image/bmp"),
        (b"<!DOCTYPE html><script>alert(1)</script>", "text/html"),
        (b"\xef\xbb\xbf  \n<HTML><body>", "text/html"),
        (b"<script>alert(1)</script>", "text/html"),
        (
            b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
            "image/svg+xml",
        ),
        (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>', "image/svg+xml"),
        (b'<?xml version="1.0"?><feed/>', "application/xml"),
        (b"%PDF-1.7\n", "application/pdf"),
        (_zip("a.txt"), "application/zip"),
        (
            _zip("[Content_Types].xml", "word/document.xml"),
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ),
        (b"\x1f\x8b\x08\x00\x00\x00", "application/gzip"),
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", "audio/wav"),
        (b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom", "video/mp4"),
        (b"OggS\x00\x02" + b"\x00" * 20 + b"\x01vorbis", "audio/ogg"),
        (b"ID3\x03\x00\x00\x00\x00\x00\x00", "audio/mpeg"),
        (b"just some notes\n", "text/plain"),
        ("naïve café ✓".encode()[:-1], "text/plain"),  # a character cut at the end
        (bytes(range(256)), "application/octet-stream"),
    ],
)
def test_sniff(data, kind):
    assert sniff(data) == kind


def _attachment(kind: str, **extra) -> Attachment:
    return Attachment(key="k", name="n", size=1, content_type=kind, **extra)


@pytest.mark.parametrize(
    ("attachment", "served", "inline"),
    [
        (_attachment("image/png", width=10, height=10), "image/png", True),
        (_attachment("image/png"), "application/octet-stream", False),  # would not decode
        (_attachment("image/svg+xml"), "application/octet-stream", False),
        (_attachment("text/html"), "application/octet-stream", False),
        (_attachment("application/xml"), "application/octet-stream", False),
        (_attachment("application/pdf"), "application/octet-stream", False),
        (_attachment("text/plain"), "text/plain; charset=utf-8", False),
        (_attachment("video/mp4"), "video/mp4", True),
        (_attachment("audio/mpeg"), "audio/mpeg", True),
        (_attachment("application/octet-stream"), "application/octet-stream", False),
    ],
)
def test_only_decoded_images_and_media_are_inline(attachment, served, inline):
    how = serving(attachment)
    assert (how.content_type, how.inline) == (served, inline)


@pytest.mark.parametrize(
    ("kind", "name", "icon"),
    [
        ("application/pdf", "a.pdf", "pdf"),
        ("application/zip", "a.zip", "archive"),
        ("application/gzip", "a.tgz", "archive"),
        ("audio/mpeg", "a.mp3", "audio"),
        ("video/webm", "a.webm", "video"),
        ("image/svg+xml", "a.svg", "image"),
        ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "a.xlsx", "document"),
        ("text/plain", "notes.txt", "document"),
        ("text/plain", "main.py", "code"),
        ("text/plain", "Makefile", "code"),
        ("text/html", "page.html", "code"),
        ("application/octet-stream", "blob.bin", "other"),
    ],
)
def test_icon_kinds(kind, name, icon):
    assert icon_kind(kind, name) == icon
    assert icon in ICON_KINDS


# -- previews ------------------------------------------------------------------------
def test_preview_applies_exif_orientation_and_strips_metadata():
    preview = make_preview(io.BytesIO(images.jpeg_with_exif(600, 300, orientation=6)), "JPEG")
    assert preview is not None
    assert (preview.width, preview.height) == (300, 600)  # as displayed: rotated
    with Image.open(io.BytesIO(preview.thumbnail)) as thumb:
        assert thumb.format == "WEBP"
        assert thumb.size == (200, 400)
        assert not thumb.getexif()
        assert (
            "exif" not in thumb.info and "xmp" not in thumb.info and "icc_profile" not in thumb.info
        )


def test_preview_of_an_animation_is_its_first_frame():
    preview = make_preview(io.BytesIO(images.animated_gif()), "GIF")
    assert preview is not None
    with Image.open(io.BytesIO(preview.thumbnail)) as thumb:
        red, _, blue = thumb.convert("RGB").getpixel((20, 20))
    assert red > 200 and blue < 50


def test_small_images_are_not_enlarged():
    preview = make_preview(io.BytesIO(images.png(64, 48)), "PNG")
    assert preview is not None
    with Image.open(io.BytesIO(preview.thumbnail)) as thumb:
        assert thumb.size == (64, 48)


@pytest.mark.parametrize(
    "data",
    [
        images.png_claiming(50_000, 50_000),  # Pillow's own bomb error
        images.png_claiming(8000, 5001),  # over chatd's 40 MP, under Pillow's limits
        images.truncated_png(),
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 100,
        b"not an image at all",
    ],
    ids=["bomb", "over-40mp", "truncated", "garbage-after-signature", "not-an-image"],
)
def test_undecodable_images_get_no_preview(data):
    assert make_preview(io.BytesIO(data), "PNG") is None


def test_the_pixel_guard_refuses_from_the_header_alone(caplog):
    caplog.set_level("INFO", logger="chatd.files.previews")
    assert MAX_PIXELS < 8000 * 5001
    assert make_preview(io.BytesIO(images.png_claiming(8000, 5001)), "PNG") is None
    assert f"8000x5001 is over {MAX_PIXELS} pixels" in caplog.text  # refused before decoding


def test_a_png_must_decode_as_png():
    assert make_preview(io.BytesIO(images.animated_gif()), "PNG") is None
