"""The server process's life: start (or fail in one line), serve, drain, close.

aiohttp's `run_app` stops listening and closes every socket the moment SIGTERM
arrives, so a load balancer still sends new clients to a node that is gone. chatd
runs the site itself instead: on SIGTERM (or SIGINT) it keeps serving while
/readyz answers 503 for `drain_seconds` (a second signal cuts that short), then
`runner.cleanup()` stops listening, closes the sockets with 1001 (on_shutdown),
lets in-flight handlers finish and unwinds the cleanup contexts.

A failure while starting (a store, broker or bucket that does not open, a port
in use) becomes `StartupFailed`, one line naming the cause, after whatever was
already open has been closed again.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Callable
from contextlib import suppress

from aiohttp import web

from chatd.keys import DRAINING, HUB
from chatd.settings import Settings, SettingsError
from chatd.store.schema import SchemaTooNew

logger = logging.getLogger("chatd")

#: How long the close waits for in-flight requests and socket closes before exiting.
SHUTDOWN_TIMEOUT_SECONDS = 10.0
#: Pending connections the kernel queues for accept (capped by net.core.somaxconn).
#: aiohttp's default of 128 overflows when thousands of clients reconnect at
#: once after a restart: dropped SYNs are retried after 1, 3, 7, 15 s, and those
#: clients came back 15 s late (scenario 5 of the benchmarks).
LISTEN_BACKLOG = 4096


class StartupFailed(Exception):
    """The server could not start; `str()` is one line naming the cause."""


def error_line(exc: BaseException) -> str:
    """An error's message on one line (driver errors can run over several)."""
    return " ".join(str(exc).split()) or type(exc).__name__


class _StopSignals:
    """SIGTERM/SIGINT: the first starts the drain, a second ends it at once."""

    def __init__(self) -> None:
        self.stop = asyncio.Event()
        self.now = asyncio.Event()

    def install(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            with suppress(NotImplementedError):  # Windows: Ctrl-C only
                loop.add_signal_handler(signum, self._received)

    def _received(self) -> None:
        (self.now if self.stop.is_set() else self.stop).set()


async def serve(app: web.Application, settings: Settings, announce: Callable[[], None]) -> None:
    """Serve `app` on the settings' address until a stop signal, then drain and close."""
    signals = _StopSignals()
    signals.install()
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_SECONDS)
    try:
        await _start(runner, settings)
        announce()
        await signals.stop.wait()
        await _drain(app, settings.drain_seconds, signals.now)
    finally:
        await runner.cleanup()


async def _start(runner: web.AppRunner, settings: Settings) -> None:
    try:
        await runner.setup()  # the cleanup contexts: store, broker, files, ...
    except SchemaTooNew as exc:
        # Never run against a store this chatd cannot read: it would misread
        # or damage what the newer chatd wrote.
        raise StartupFailed(str(exc)) from exc
    except SettingsError as exc:  # found only once a backend answered (a missing bucket)
        raise StartupFailed(f"configuration error: {exc}") from exc
    except Exception as exc:
        raise StartupFailed(f"cannot start: {error_line(exc)}") from exc
    site = web.TCPSite(runner, settings.host, settings.port, backlog=LISTEN_BACKLOG)
    try:
        await site.start()
    except OSError as exc:
        reason = os.strerror(exc.errno).lower() if exc.errno else error_line(exc)
        raise StartupFailed(f"cannot listen on {settings.host}:{settings.port}: {reason}") from exc


async def _drain(app: web.Application, seconds: float, now: asyncio.Event) -> None:
    """Keep serving while /readyz says 503, so new clients go elsewhere first."""
    app[DRAINING].set()
    if seconds > 0:
        logger.info("draining: /readyz answers 503 for %g s, then the sockets close", seconds)
        with suppress(TimeoutError):
            await asyncio.wait_for(now.wait(), seconds)
    hub = app.get(HUB)
    sockets = len(hub.connections) if hub is not None else 0
    logger.info("shutting down: closing %d sockets with 1001", sockets)
