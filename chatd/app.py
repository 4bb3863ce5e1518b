"""The application factory: one aiohttp app serving HTTP and the WebSocket."""

from __future__ import annotations

from aiohttp import web

from chatd.api.errors import error_middleware
from chatd.api.openapi import build_spec
from chatd.auth import views as auth_views
from chatd.auth.middleware import auth_middleware
from chatd.health import healthz, readyz
from chatd.jsonutil import dumps
from chatd.keys import SETTINGS
from chatd.resources import auth_context, broker_context, files_context, store_context
from chatd.security import add_security_headers
from chatd.settings import Settings
from chatd.webui import setup_web


def create_app(settings: Settings) -> web.Application:
    """Build the app; resources open in cleanup contexts, in order, when it starts."""
    app = web.Application(middlewares=[error_middleware, auth_middleware])
    app[SETTINGS] = settings
    app.cleanup_ctx.extend([store_context, broker_context, files_context, auth_context])
    app.on_response_prepare.append(add_security_headers)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    auth_views.add_routes(app)
    setup_web(app)
    _add_openapi(app)
    return app


def _add_openapi(app: web.Application) -> None:
    """Serve the OpenAPI document, built once from the routes registered above."""
    spec = build_spec(app)

    async def openapi_json(request: web.Request) -> web.Response:
        return web.json_response(spec, dumps=dumps)

    app.router.add_get("/api/openapi.json", openapi_json)
