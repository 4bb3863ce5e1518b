"""Liveness (/healthz) and readiness (/readyz) for load balancers and PaaS routers."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aiohttp import web

from chatd.keys import BROKER, DRAINING, FILES, STORE
from chatd.util.jsonutil import dumps

#: A backend slower than this is as good as down for a router's health probe.
CHECK_TIMEOUT_SECONDS = 2.0


async def healthz(request: web.Request) -> web.Response:
    """The process is up and serving; says nothing about backends."""
    return web.json_response({"status": "ok"}, dumps=dumps)


async def _probe(check: Callable[[], Awaitable[None]]) -> str:
    try:
        await asyncio.wait_for(check(), CHECK_TIMEOUT_SECONDS)
    except TimeoutError:
        return f"no answer within {CHECK_TIMEOUT_SECONDS:g} s"
    except Exception as exc:
        return str(exc) or type(exc).__name__
    return "ok"


async def readyz(request: web.Request) -> web.Response:
    """200 when store, broker and file store all answer; 503 with a per-backend report.

    A node going away (SIGTERM) answers 503 "draining" while it still serves,
    so a load balancer sends new clients elsewhere before its sockets close.
    """
    app = request.app
    if app[DRAINING].is_set():
        body = {
            "status": "draining",
            "error": {"code": "unavailable", "message": "this node is shutting down"},
        }
        return web.json_response(body, status=503, dumps=dumps)
    names = ("store", "broker", "files")
    results = await asyncio.gather(
        _probe(app[STORE].check), _probe(app[BROKER].check), _probe(app[FILES].check)
    )
    checks = dict(zip(names, results, strict=True))
    failing = [f"{name}: {result}" for name, result in checks.items() if result != "ok"]
    if not failing:
        return web.json_response({"status": "ok", "checks": checks}, dumps=dumps)
    body = {
        "status": "unavailable",
        "checks": checks,
        "error": {"code": "unavailable", "message": "; ".join(failing)},
    }
    return web.json_response(body, status=503, dumps=dumps)
