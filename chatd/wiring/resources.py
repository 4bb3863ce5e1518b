"""One cleanup context per resource: set up before `yield`, torn down after.

Each picks its adapter from the settings: the embedded one by default, the
production one when its variable (MONGODB_URI, REDIS_URL, S3_BUCKET) is set.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from chatd.auth.devices import DeviceCookies
from chatd.auth.limits import BackoffLimit, WindowLimit
from chatd.auth.passwords import PasswordHasher
from chatd.auth.service import AbuseLimits, AuthService
from chatd.auth.throttle import LoginLimits, LoginThrottle
from chatd.auth.tokens import AccessTokens
from chatd.broker.counters import FailoverCounters
from chatd.domain.dms import squatted_dm_ids
from chatd.fanout.hub import Hub
from chatd.files.intake import FileIntake
from chatd.files.previews import Previewer
from chatd.keys import (
    AUTH,
    BROKER,
    CLOCK,
    CONTENT_POLICY,
    COUNTERS,
    FILES,
    HUB,
    INTAKE,
    METRICS,
    OUTAGES,
    SETTINGS,
    STORE,
    STORE_EPOCH,
)
from chatd.models import Room, RoomKind
from chatd.observability.timing import timed
from chatd.store import KnownEpoch, Store
from chatd.store.factory import open_store
from chatd.util.clock import now_ms
from chatd.util.private_files import warn_if_shared
from chatd.web.security import content_security_policy

logger = logging.getLogger(__name__)

#: Every install has this public room, and every new user is a member of it.
GENERAL_ROOM = "general"


async def data_dir_context(app: web.Application) -> AsyncIterator[None]:
    """Warn, once per start, when the data dir lets other users of the machine in
    or sits on a platform's ephemeral disk."""
    settings = app[SETTINGS]
    await asyncio.to_thread(warn_if_shared, settings.data_dir)
    ephemeral = settings.ephemeral_disk_warning
    if ephemeral is not None:
        logger.warning("%s", ephemeral)
    yield


async def store_context(app: web.Application) -> AsyncIterator[None]:
    epoch = app[STORE_EPOCH] = KnownEpoch()

    async def prepare(store: Store) -> None:
        # Once the store answers (at once, or after a MongoDB outage at start).
        epoch.value = await store.epoch()
        await prepare_store(store)

    async with open_store(app[SETTINGS], prepare) as store:
        # Every call through the port is timed here, once, not in each adapter.
        app[STORE] = timed(store, app[METRICS].store_seconds)
        yield


async def prepare_store(store: Store) -> None:
    """Ready a connected store for serving: the default room, warnings about old data."""
    await store.ensure_room(
        Room(
            id=GENERAL_ROOM,
            name=GENERAL_ROOM,
            kind=RoomKind.PUBLIC,
            created_by=None,
            created_at=now_ms(),
            topic="Everyone's room",
        )
    )
    for room in await squatted_dm_ids(store):
        logger.warning(
            "public room %s (%r, created by %s) holds a direct-message id: it takes no"
            " new members, and the DM of that id cannot be opened until it is removed"
            " (see README, Upgrading)",
            room.id,
            room.name,
            room.created_by,
        )


async def broker_context(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    if settings.redis_url:
        from chatd.broker.redis import RedisBroker

        async def resync_after_outage() -> None:
            app[METRICS].broker_reconnects.inc()
            app[OUTAGES].recovered("broker", "pub/sub")
            # Events published while Redis was away are in the store: deliver them.
            hub = app.get(HUB)
            if hub is not None:
                await hub.catch_up()

        redis = RedisBroker(
            settings.redis_url, settings.redis_prefix, on_reconnect=resync_after_outage
        )
        await redis.start()
        app[BROKER] = timed(redis, app[METRICS].broker_seconds)
        # Limits keep counting, per node, while Redis is away (chatd.broker.counters).
        app[COUNTERS] = FailoverCounters(redis, app[OUTAGES])
        logger.info("broker: Redis")
        try:
            yield
        finally:
            await redis.close()
    else:
        from chatd.broker.memory import MemoryBroker

        memory = MemoryBroker()
        await memory.start()
        app[BROKER] = timed(memory, app[METRICS].broker_seconds)
        app[COUNTERS] = memory
        logger.info("broker: in-process")
        try:
            yield
        finally:
            await memory.close()


async def files_context(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    if settings.s3_bucket:
        from chatd.files.s3 import S3FileStore

        s3 = S3FileStore(
            settings.s3_bucket,
            endpoint_url=settings.s3_endpoint_url,
            public_endpoint_url=settings.s3_public_endpoint_url,
            region=settings.aws_region,
            access_key_id=settings.aws_access_key_id,
            secret_access_key=settings.aws_secret_access_key,
        )
        await s3.start()
        try:
            await s3.prepare_bucket(create=settings.s3_create_bucket)
        except BaseException:
            await s3.close()
            raise
        app[FILES] = s3
        logger.info("files: S3 bucket %s", settings.s3_bucket)
        try:
            yield
        finally:
            await s3.close()
    else:
        from chatd.files.local import LocalFileStore

        local = LocalFileStore(settings.files_dir)
        await local.start()
        app[FILES] = local
        logger.info("files: local directory %s", settings.files_dir)
        try:
            yield
        finally:
            await local.close()


async def intake_context(app: web.Application) -> AsyncIterator[None]:
    """Upload handling over the file store; widens the web client's CSP for S3 downloads."""
    files = app[FILES]
    intake = FileIntake(files, Previewer(), app[SETTINGS].max_upload_bytes)
    app[INTAKE] = intake
    origin = await files.download_origin()
    if origin is not None:
        app[CONTENT_POLICY] = content_security_policy(media_origins=[origin])
    try:
        yield
    finally:
        await intake.close()


def abuse_limits(app: web.Application) -> AbuseLimits:
    settings, counters, prefix = app[SETTINGS], app[COUNTERS], app[SETTINGS].redis_prefix
    login = LoginLimits(
        free_failures=settings.login_free_failures,
        address_failures=settings.login_address_failures,
        account_failures=settings.login_account_failures,
        window=settings.login_window,
    )
    return AbuseLimits(
        login=LoginThrottle(counters, prefix, login),
        register=WindowLimit(
            counters, f"{prefix}register:addr", settings.register_limit, settings.register_window
        ),
        password=BackoffLimit(
            counters,
            f"{prefix}password:user",
            settings.password_failures,
            settings.login_window,
            settings.login_window,
        ),
        devices=DeviceCookies(settings.secret_key),
    )


async def auth_context(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    app[AUTH] = AuthService(
        store=app[STORE],
        hasher=PasswordHasher(settings.bcrypt_rounds),
        tokens=AccessTokens(settings.secret_key),
        limits=abuse_limits(app),
        notify_user=app[HUB].publish_user,
    )
    yield


async def hub_context(app: web.Application) -> AsyncIterator[None]:
    """This node's socket registry; needs the store and broker, serves auth and handlers."""
    settings = app[SETTINGS]
    app[HUB] = Hub(
        store=app[STORE],
        broker=app[BROKER],
        node_id=settings.node_id,
        prefix=settings.redis_prefix,
        presence_ttl=settings.presence_ttl,
        clock=app[CLOCK],
        outages=app[OUTAGES],
    )
    try:
        yield
    finally:
        await app[HUB].stop()
