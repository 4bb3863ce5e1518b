"""The application factory: one aiohttp app serving HTTP and the WebSocket."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager

from aiohttp import web

from chatd.api import auth as auth_views
from chatd.api import dms as dms_api
from chatd.api import downloads as downloads_api
from chatd.api import ice as ice_api
from chatd.api import rooms as rooms_api
from chatd.api import search as search_api
from chatd.api import threads as threads_api
from chatd.api import uploads as uploads_api
from chatd.keys import CLOCK, DRAINING, HELLO_TIMEOUT, METRICS, OUTAGES, SETTINGS, SOCKET_EVENTS
from chatd.observability.metrics import Metrics
from chatd.observability.sockets import SocketEvents
from chatd.realtime.gateway import (
    HELLO_TIMEOUT_SECONDS,
    WEBSOCKET_PATH,
    outside_websockets,
    websocket,
)
from chatd.realtime.router import HandlerSpec
from chatd.settings import Settings
from chatd.util.clock import Clock, LoopClock
from chatd.util.jsonutil import dumps
from chatd.util.outages import OutageLog
from chatd.web.auth import auth_middleware
from chatd.web.errors import error_middleware
from chatd.web.health import healthz, readyz
from chatd.web.metrics import add_metrics_route
from chatd.web.observe import echo_request_id, observe_middleware
from chatd.web.openapi import build_spec
from chatd.web.security import add_security_headers
from chatd.web.webui import setup_web
from chatd.wiring.metrics import metrics_listener_context
from chatd.wiring.realtime import close_sockets, realtime_context
from chatd.wiring.resources import (
    auth_context,
    broker_context,
    data_dir_context,
    files_context,
    hub_context,
    intake_context,
    store_context,
)

CleanupContext = Callable[[web.Application], AsyncIterator[None]]


def in_order(*contexts: CleanupContext) -> CleanupContext:
    """The contexts as one: set up in order, torn down in reverse.

    aiohttp tears nothing down when a context fails to start (a missing S3
    bucket, MongoDB refusing), leaving the ones already set up to be finalised
    by the closing loop, with tracebacks. Here a failure unwinds exactly what
    was built, and start-up ends with the one error that caused it.
    """

    async def resources(app: web.Application) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            for context in contexts:
                await stack.enter_async_context(asynccontextmanager(context)(app))
            yield

    return resources


def create_app(
    settings: Settings,
    *,
    handlers: Sequence[HandlerSpec] | None = None,
    hello_timeout: float = HELLO_TIMEOUT_SECONDS,
    clock: Clock | None = None,
) -> web.Application:
    """Build the app; resources open in cleanup contexts, in order, when it starts.

    `handlers` pins the frame handlers (tests); by default they are discovered
    through the `chatd.handlers` entry points, built-ins and plugins alike.
    `hello_timeout` is the contract's 10 s unless a test needs it shorter, and
    `clock` the loop's and the system's unless a test advances one of its own.
    """
    app = web.Application(
        middlewares=[
            # Outermost: it sees the status the other two settle on.
            outside_websockets(observe_middleware),
            outside_websockets(error_middleware),
            outside_websockets(auth_middleware),
        ]
    )
    app[SETTINGS] = settings
    app[HELLO_TIMEOUT] = hello_timeout
    app[CLOCK] = clock or LoopClock()
    app[DRAINING] = asyncio.Event()
    app[OUTAGES] = OutageLog(logging.getLogger("chatd.util.outages"))
    metrics = app[METRICS] = Metrics()
    app[SOCKET_EVENTS] = SocketEvents(metrics, logging.getLogger("chatd.realtime.gateway"))
    app.cleanup_ctx.append(
        in_order(
            metrics_listener_context,
            data_dir_context,
            store_context,
            broker_context,
            files_context,
            intake_context,
            hub_context,
            auth_context,
            realtime_context(handlers),
        )
    )
    app.on_response_prepare.append(add_security_headers)
    app.on_response_prepare.append(echo_request_id)
    app.on_shutdown.append(close_sockets)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    if settings.metrics_token is not None and settings.metrics_port is None:
        add_metrics_route(app, settings.metrics_token)
    app.router.add_get(WEBSOCKET_PATH, websocket)
    auth_views.add_routes(app)
    rooms_api.add_routes(app)
    threads_api.add_routes(app)
    dms_api.add_routes(app)
    search_api.add_routes(app)
    uploads_api.add_routes(app)
    downloads_api.add_routes(app)
    ice_api.add_routes(app)
    setup_web(app)
    _add_openapi(app)
    return app


def _add_openapi(app: web.Application) -> None:
    """Serve the OpenAPI document, built once from the routes registered above."""
    spec = build_spec(app)

    async def openapi_json(request: web.Request) -> web.Response:
        return web.json_response(spec, dumps=dumps)

    app.router.add_get("/api/openapi.json", openapi_json)
