"""Every typed slot of the aiohttp application, declared in one place."""

from __future__ import annotations

from aiohttp import web

from chatd.actions.deps import ActionDeps
from chatd.auth.service import AuthService
from chatd.broker import Broker
from chatd.files import FileStore
from chatd.files.intake import FileIntake
from chatd.hub import Hub
from chatd.liveness import SocketClock
from chatd.outages import OutageLog
from chatd.router import FrameRouter
from chatd.settings import Settings
from chatd.socket_caps import SocketCaps
from chatd.store import Store

SETTINGS = web.AppKey("settings", Settings)
STORE = web.AppKey("store", Store)
BROKER = web.AppKey("broker", Broker)
FILES = web.AppKey("files", FileStore)
INTAKE = web.AppKey("intake", FileIntake)
#: The web client's Content-Security-Policy when it differs from the default
#: (S3 downloads are redirects to the bucket's origin, which it must allow).
CONTENT_POLICY = web.AppKey("content_policy", str)
AUTH = web.AppKey("auth", AuthService)
HUB = web.AppKey("hub", Hub)
ROUTER = web.AppKey("router", FrameRouter)
#: The use-case actions' services, for REST views (handlers get them in Services).
ACTIONS = web.AppKey("actions", ActionDeps)
SOCKET_CLOCK = web.AppKey("socket_clock", SocketClock)
SOCKET_CAPS = web.AppKey("socket_caps", SocketCaps)
#: Outages seen by REST views and WebSocket handshakes (one warning per kind).
OUTAGES = web.AppKey("outages", OutageLog)
