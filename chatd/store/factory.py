"""Picks the Store adapter the settings ask for.

MONGODB_URI set: MongoDB, shared by every node. Otherwise the embedded SQLite
file in the data dir, so a bare `chatd` keeps its data across restarts.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from chatd.settings import Settings
from chatd.store.base import Store, StoreError
from chatd.store.schema import Migration
from chatd.store.sqlite import SqliteStore
from chatd.store.token_purge import PURGE_INTERVAL_SECONDS, purging_tokens

logger = logging.getLogger(__name__)


async def _as_is(store: Store) -> None:
    """Nothing to prepare (tools and tests that only use the store)."""


@asynccontextmanager
async def open_store(
    settings: Settings,
    on_connected: Callable[[Store], Awaitable[None]] | None = None,
    *,
    purge_interval: float = PURGE_INTERVAL_SECONDS,
) -> AsyncIterator[Store]:
    """The configured store, open for the body and closed after it.

    Shaped for `app.cleanup_ctx`: set up before the yield, torn down after.
    `on_connected` prepares it for serving (at once, or on MongoDB once a
    server that was unreachable at start answers: until then the store
    raises Unavailable, so the node starts and answers 503).
    On SQLite a background task purges expired tokens every `purge_interval`
    seconds meanwhile (MongoDB's TTL indexes do it there).
    """
    if settings.mongodb_uri is not None:
        # Imported only here: Beanie and pymongo take ~0.16 s to import, a
        # share of every restart's downtime on nodes that do not use them.
        from chatd.store.mongo import MongoStore

        mongo = await MongoStore.start(settings.mongodb_uri, on_connected or _as_is)
        try:
            yield mongo
        finally:
            await mongo.close()
    else:
        sqlite = await SqliteStore.open(settings.sqlite_path)
        try:
            await (on_connected or _as_is)(sqlite)
            async with purging_tokens(sqlite, purge_interval):
                yield sqlite
        finally:
            await sqlite.close()


async def migrate_store(settings: Settings) -> Migration:
    """`chatd migrate`: open the configured store, which migrates it, then close it.

    Opening is what migrates, so the release step and a node's start do exactly
    the same thing; here nothing else runs (no purge, no default room).
    """
    if settings.mongodb_uri is not None:
        from chatd.store.mongo import MongoStore

        mongo = await MongoStore.open(settings.mongodb_uri)
        await mongo.close()
        migration = mongo.migration
    else:
        sqlite = await SqliteStore.open(settings.sqlite_path)
        await sqlite.close()
        migration = sqlite.migration
    if migration is None:  # pragma: no cover - open() always sets it or raises
        raise StoreError("the store opened without checking its schema version")
    return migration


async def store_epoch(settings: Settings, *, renew: bool) -> str:
    """`chatd epoch [--new]`: the configured store's epoch, replaced first if `renew`.

    Renewed after restoring a backup (Store.epoch), with every node stopped:
    a node reads the epoch once, as it starts.
    """
    if settings.mongodb_uri is not None:
        from chatd.store.mongo import MongoStore

        mongo = await MongoStore.open(settings.mongodb_uri)
        try:
            return await _epoch_of(mongo, renew)
        finally:
            await mongo.close()
    sqlite = await SqliteStore.open(settings.sqlite_path)
    try:
        return await _epoch_of(sqlite, renew)
    finally:
        await sqlite.close()


async def _epoch_of(store: Store, renew: bool) -> str:
    return await (store.new_epoch() if renew else store.epoch())
