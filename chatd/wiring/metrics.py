"""The metrics listener on CHATD_METRICS_PORT, when one is configured.

It binds the same host as the main port and serves only /metrics, without a
token: the operator keeps that port for the scraper (a private network, a
firewall rule). It opens first and closes last, so the whole life of the node
is observable.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web

from chatd.keys import METRICS, SETTINGS
from chatd.web.metrics import METRICS_PATH, metrics_app

logger = logging.getLogger(__name__)


async def metrics_listener_context(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    if settings.metrics_port is None:
        yield
        return
    runner = web.AppRunner(metrics_app(app[METRICS]), access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, settings.host, settings.metrics_port)
        await site.start()
        logger.info("metrics on http://%s:%d%s", settings.host, settings.metrics_port, METRICS_PATH)
        yield
    finally:
        await runner.cleanup()
