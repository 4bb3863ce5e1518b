"""Every HTTP request observed: its request id, its metrics and its access-log line.

The request id is the incoming `X-Request-Id` when that is a short token, else a
new one; it is echoed in every response (the WebSocket's 101 and refusals too,
through `echo_request_id`) and carried by every log line of the request.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Final

from aiohttp import web

from chatd.keys import METRICS, SETTINGS
from chatd.observability.logs import (
    REQUEST_ID_HEADER,
    request_id_from,
    request_id_var,
    user_id_var,
)
from chatd.web.errors import ERROR_CODE

_REQUEST_ID: Final = web.RequestKey("request_id", str)
#: The route label of requests that matched no route (one series, not one per path).
UNMATCHED_ROUTE: Final = "unmatched"

access_logger = logging.getLogger("chatd.access")


def request_id_of(request: web.Request) -> str:
    """The request's id: decided once, from X-Request-Id or new."""
    request_id = request.get(_REQUEST_ID)
    if request_id is None:
        request_id = request[_REQUEST_ID] = request_id_from(request.headers.get(REQUEST_ID_HEADER))
    return request_id


async def echo_request_id(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: every response names its request."""
    response.headers[REQUEST_ID_HEADER] = request_id_of(request)


def route_of(request: web.Request) -> str:
    """The matched route's pattern (`/api/rooms/{room}/messages`), never the raw path:
    one series per route, whatever ids the paths carry."""
    resource = request.match_info.route.resource
    return UNMATCHED_ROUTE if resource is None else resource.canonical


@web.middleware
async def observe_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    """The outermost middleware: context for the logs, then metrics and the access log."""
    request_token = request_id_var.set(request_id_of(request))
    user_token = user_id_var.set(None)  # the auth middleware sets it once known
    start = time.perf_counter()
    status = 500
    try:
        response: web.StreamResponse = await handler(request)
        status = response.status
        code = response.get(ERROR_CODE)
        if code is not None:
            request.app[METRICS].frames.refuse("http", code)
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        _record(request, status, time.perf_counter() - start)
        user_id_var.reset(user_token)
        request_id_var.reset(request_token)


def _record(request: web.Request, status: int, seconds: float) -> None:
    route = route_of(request)
    metrics = request.app[METRICS]
    metrics.http_requests.labels(request.method, route, str(status)).inc()
    metrics.http_seconds.labels(route).observe(seconds)
    if request.app[SETTINGS].access_log:
        duration_ms = round(seconds * 1000, 1)
        access_logger.info(
            "%s %s %d %.1f ms",
            request.method,
            route,
            status,
            duration_ms,
            extra={
                "fields": {
                    "method": request.method,
                    "route": route,
                    "path": request.path,
                    "status": status,
                    "duration_ms": duration_ms,
                }
            },
        )
