"""Every typed slot of the aiohttp application, declared in one place."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

# Types only: at run time this module imports nothing of chatd's, so any
# layer can name a slot without loading the layers that fill it.
if TYPE_CHECKING:
    import asyncio

    from chatd.actions.deps import ActionDeps
    from chatd.auth.service import AuthService
    from chatd.broker import Broker
    from chatd.broker.counters import Counters
    from chatd.fanout.hub import Hub
    from chatd.files import FileStore
    from chatd.files.intake import FileIntake
    from chatd.observability.metrics import Metrics
    from chatd.observability.sockets import SocketEvents
    from chatd.realtime.liveness import SocketClock
    from chatd.realtime.router import FrameRouter
    from chatd.realtime.socket_caps import SocketCaps
    from chatd.settings import Settings
    from chatd.store import KnownEpoch, Store
    from chatd.util.clock import Clock
    from chatd.util.outages import OutageLog

SETTINGS: web.AppKey[Settings] = web.AppKey("settings")
STORE: web.AppKey[Store] = web.AppKey("store")
#: The store's epoch (Store.epoch), read once as the store opens: it changes
#: only by a restore, which the nodes are stopped for (docs/backup.md).
#: The store's epoch (restores change it), filled in when the store first answers.
STORE_EPOCH: web.AppKey[KnownEpoch] = web.AppKey("store_epoch")
BROKER: web.AppKey[Broker] = web.AppKey("broker")
#: Rate-limit counters: the broker's, or this node's own while it is down.
COUNTERS: web.AppKey[Counters] = web.AppKey("counters")
FILES: web.AppKey[FileStore] = web.AppKey("files")
INTAKE: web.AppKey[FileIntake] = web.AppKey("intake")
#: The web client's Content-Security-Policy when it differs from the default
#: (S3 downloads are redirects to the bucket's origin, which it must allow).
CONTENT_POLICY: web.AppKey[str] = web.AppKey("content_policy")
AUTH: web.AppKey[AuthService] = web.AppKey("auth")
HUB: web.AppKey[Hub] = web.AppKey("hub")
ROUTER: web.AppKey[FrameRouter] = web.AppKey("router")
#: The use-case actions' services, for REST views (handlers get them in Services).
ACTIONS: web.AppKey[ActionDeps] = web.AppKey("actions")
SOCKET_CLOCK: web.AppKey[SocketClock] = web.AppKey("socket_clock")
#: Seconds a new socket has to send `hello` (the contract's 10 s; tests shorten it).
HELLO_TIMEOUT: web.AppKey[float] = web.AppKey("hello_timeout")
#: Set when the node starts going away (SIGTERM): /readyz answers 503 from then on.
DRAINING: web.AppKey[asyncio.Event] = web.AppKey("draining")
#: The node's time, for every part that waits on a timing (tests pass one they advance).
CLOCK: web.AppKey[Clock] = web.AppKey("clock")
SOCKET_CAPS: web.AppKey[SocketCaps] = web.AppKey("socket_caps")
#: Outages seen by REST views and WebSocket handshakes (one warning per kind).
OUTAGES: web.AppKey[OutageLog] = web.AppKey("outages")
#: The app's Prometheus metrics (its own registry: several apps share a test process).
METRICS: web.AppKey[Metrics] = web.AppKey("metrics")
#: What the app's sockets count and log (one object, held by every Connection).
SOCKET_EVENTS: web.AppKey[SocketEvents] = web.AppKey("socket_events")
