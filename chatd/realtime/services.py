"""The services a frame handler may use, handed over explicitly (no globals)."""

from __future__ import annotations

from dataclasses import dataclass

from chatd.actions.deps import ActionDeps
from chatd.auth.service import AuthService
from chatd.broker import Broker
from chatd.domain.calls import Calls
from chatd.fanout.hub import Hub
from chatd.files import FileStore
from chatd.realtime.liveness import SocketClock
from chatd.settings import Settings
from chatd.store import Store


@dataclass(frozen=True, slots=True)
class Services:
    settings: Settings
    store: Store
    broker: Broker
    files: FileStore
    hub: Hub
    auth: AuthService
    calls: Calls
    sockets: SocketClock
    #: What the use-case actions (`chatd.actions`) are called with.
    actions: ActionDeps
