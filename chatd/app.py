"""The application factory: one aiohttp app serving HTTP and the WebSocket."""

from __future__ import annotations

from aiohttp import web

from chatd.api.errors import error_middleware
from chatd.health import healthz, readyz
from chatd.keys import SETTINGS
from chatd.resources import broker_context, files_context, store_context
from chatd.security import add_security_headers
from chatd.settings import Settings


def create_app(settings: Settings) -> web.Application:
    """Build the app; resources open in cleanup contexts when it starts."""
    app = web.Application(middlewares=[error_middleware])
    app[SETTINGS] = settings
    app.cleanup_ctx.extend([store_context, broker_context, files_context])
    app.on_response_prepare.append(add_security_headers)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app
