"""Deleting expired refresh tokens and revocation entries from the SQLite store.

Every login and refresh stores a token, and nothing else ever deletes one, so
without this the table grows for as long as the install lives. MongoDB does the
same job itself with TTL indexes (chatd/store/mongo.py); SQLite has no TTL, so
a task of the node that owns the store deletes them every `interval` seconds.
Several processes sharing one file may each run one: the DELETEs are idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Final, Protocol

from chatd.errors import StorageFull, Unavailable
from chatd.store.base import StoreError
from chatd.util.clock import now_ms

logger = logging.getLogger(__name__)

#: Expired tokens do no harm but the space they take (a refresh token lives 30
#: days; revocation entries 15 minutes), so once an hour is plenty.
PURGE_INTERVAL_SECONDS: Final = 3600.0


class Purgeable(Protocol):
    async def purge_expired_tokens(self, now: int) -> int: ...


@contextlib.asynccontextmanager
async def purging_tokens(
    store: Purgeable, interval: float = PURGE_INTERVAL_SECONDS
) -> AsyncIterator[None]:
    """Purge `store` once at the start and every `interval` seconds until exit."""
    task = asyncio.create_task(_purge_forever(store, interval), name="chatd-token-purge")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _purge_forever(store: Purgeable, interval: float) -> None:
    while True:
        try:
            purged = await store.purge_expired_tokens(now_ms())
        except (StoreError, Unavailable, StorageFull) as exc:
            # A store outage or full disk: the next round tries again, and
            # nothing is lost meanwhile but some space.
            logger.warning("purging expired tokens failed: %s", exc)
        else:
            if purged:
                logger.info("purged %d expired tokens", purged)
        await asyncio.sleep(interval)
