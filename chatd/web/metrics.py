"""GET /metrics: the node's Prometheus metrics, for a scraper only.

On the main port the endpoint exists only with CHATD_METRICS_TOKEN set, and
answers only a request bearing that token: the figures (room traffic, refusal
rates) are not for every visitor. With CHATD_METRICS_PORT set, the metrics are
served on that listener instead (kept off the public network by the operator)
and the main port has no /metrics at all.
"""

from __future__ import annotations

import hmac

from aiohttp import web

from chatd.keys import METRICS
from chatd.observability.metrics import CONTENT_TYPE, Metrics
from chatd.web.auth import bearer_token

METRICS_PATH = "/metrics"


def metrics_response(metrics: Metrics) -> web.Response:
    response = web.Response(body=metrics.exposition())
    # Set as a header: the exposition type carries a `version` parameter, which
    # aiohttp's content_type argument does not take.
    response.headers["Content-Type"] = CONTENT_TYPE
    return response


def add_metrics_route(app: web.Application, token: str) -> None:
    """/metrics on the main app, for requests with `Authorization: Bearer <token>`."""
    expected = token.encode()

    async def metrics_view(request: web.Request) -> web.Response:
        given = bearer_token(request)
        if given is None or not hmac.compare_digest(given.encode(), expected):
            raise web.HTTPUnauthorized(
                text="metrics need the bearer token", headers={"WWW-Authenticate": "Bearer"}
            )
        return metrics_response(request.app[METRICS])

    app.router.add_get(METRICS_PATH, metrics_view)


def metrics_app(metrics: Metrics) -> web.Application:
    """The separate metrics listener's app: /metrics and nothing else, no token."""

    async def metrics_view(request: web.Request) -> web.Response:
        return metrics_response(metrics)

    app = web.Application()
    app.router.add_get(METRICS_PATH, metrics_view)
    return app
