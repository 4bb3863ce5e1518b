"""Every typed slot of the aiohttp application, declared in one place."""

from __future__ import annotations

from aiohttp import web

from chatd.auth.service import AuthService
from chatd.broker import Broker
from chatd.files import FileStore
from chatd.hub import Hub
from chatd.router import FrameRouter
from chatd.settings import Settings
from chatd.store import Store

SETTINGS = web.AppKey("settings", Settings)
STORE = web.AppKey("store", Store)
BROKER = web.AppKey("broker", Broker)
FILES = web.AppKey("files", FileStore)
AUTH = web.AppKey("auth", AuthService)
HUB = web.AppKey("hub", Hub)
ROUTER = web.AppKey("router", FrameRouter)
