"""The real-time side of the app: hub, router and the presence heartbeat, as one resource.

It also hands out the use-case actions' services (`ACTIONS`, `Services.actions`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import suppress

from aiohttp import WSCloseCode, web

from chatd.actions.deps import ActionDeps
from chatd.domain.calls import Calls
from chatd.errors import Unavailable
from chatd.fanout.hub import Hub
from chatd.keys import (
    ACTIONS,
    AUTH,
    BROKER,
    CLOCK,
    FILES,
    HUB,
    OUTAGES,
    ROUTER,
    SETTINGS,
    SOCKET_CAPS,
    SOCKET_CLOCK,
    STORE,
)
from chatd.realtime.liveness import SocketClock
from chatd.realtime.router import FrameRouter, HandlerSpec, discover_handlers
from chatd.realtime.services import Services
from chatd.realtime.socket_caps import SocketCaps
from chatd.util.outages import OutageLog

logger = logging.getLogger(__name__)


def realtime_context(
    handlers: Sequence[HandlerSpec] | None,
) -> Callable[[web.Application], AsyncIterator[None]]:
    """Build the cleanup context; `handlers=None` discovers them via entry points."""

    async def context(app: web.Application) -> AsyncIterator[None]:
        hub = app[HUB]
        settings = app[SETTINGS]
        calls = Calls(
            hub=hub,
            broker=app[BROKER],
            store=app[STORE],
            ttl=settings.presence_ttl,
            ring_seconds=settings.call_ring_seconds,
            outages=app[OUTAGES],
        )
        sockets = app[SOCKET_CLOCK] = SocketClock(clock=app[CLOCK])
        caps = app[SOCKET_CAPS] = SocketCaps(
            broker=app[BROKER],
            per_user=settings.sockets_per_user,
            per_address=settings.sockets_per_address,
            ttl=settings.presence_ttl,
            outages=app[OUTAGES],
        )
        actions = app[ACTIONS] = ActionDeps(store=app[STORE], hub=hub, files=app[FILES])
        services = Services(
            settings=app[SETTINGS],
            store=app[STORE],
            broker=app[BROKER],
            files=app[FILES],
            hub=hub,
            auth=app[AUTH],
            calls=calls,
            sockets=sockets,
            actions=actions,
        )
        specs = discover_handlers() if handlers is None else list(handlers)
        app[ROUTER] = FrameRouter(specs, services, outages=app[OUTAGES])
        logger.info("frame types: %s", ", ".join(app[ROUTER].frame_types))
        heartbeat = asyncio.create_task(
            _presence_heartbeat(hub, caps, app[OUTAGES]), name="presence-heartbeat"
        )
        calls.start()
        sockets.start()
        try:
            yield
        finally:
            await sockets.stop()
            heartbeat.cancel()
            with suppress(asyncio.CancelledError):
                await heartbeat
            await calls.stop()

    return context


async def _presence_heartbeat(hub: Hub, caps: SocketCaps, outages: OutageLog) -> None:
    """Refresh this node's presence entries and socket counts at a third of their TTL."""
    interval = hub.presence_ttl / 3
    while True:
        await asyncio.sleep(interval)
        try:
            await hub.refresh_presence()
        except Exception:
            logger.exception("presence heartbeat failed")
        try:
            await caps.refresh(hub.connections)
        except Unavailable as exc:
            outages.note(exc, "socket counts")
        except Exception as exc:
            logger.warning("socket counts not refreshed: %s", exc)


async def close_sockets(app: web.Application) -> None:
    """on_shutdown: every client is told we are going away (1001) and will reconnect."""
    hub = app.get(HUB)
    if hub is not None:
        await hub.close_all(WSCloseCode.GOING_AWAY, "server shutting down")
