"""Security headers on every response: pages, API, static files and the WebSocket upgrade."""

from __future__ import annotations

from collections.abc import Sequence

from aiohttp import web

from chatd.keys import CONTENT_POLICY


def content_security_policy(media_origins: Sequence[str] = ()) -> str:
    """The web client's policy; `media_origins` may serve its images, audio and video.

    No inline script anywhere: the web client is ES modules from /static only.
    blob:/data: images are the client's own previews (uploads, avatars drawn on
    canvas). With files on S3, `/files/...` answers with a redirect to the
    bucket, and CSP checks the URL an image or video finally comes from.
    """
    media = "".join(f" {origin}" for origin in media_origins)
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src 'self' data: blob:{media}",
            f"media-src 'self' blob:{media}",
            "connect-src 'self'",
            "font-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


CONTENT_SECURITY_POLICY = content_security_policy()

DEFAULT_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": (
        "camera=(self), microphone=(self), display-capture=(self), geolocation=()"
    ),
}


async def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare hook; a view that set its own (stricter) policy keeps it."""
    policy = request.app.get(CONTENT_POLICY)
    if policy is not None:
        response.headers.setdefault("Content-Security-Policy", policy)
    for name, value in DEFAULT_HEADERS.items():
        response.headers.setdefault(name, value)
