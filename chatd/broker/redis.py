"""The production Broker: Redis pub/sub, presence and counters shared by every node.

Start-up never waits for Redis: `start()` launches the subscriber task and
returns, so a node boots (and reports "not ready" through /readyz) while Redis
is down, then catches up when it comes back.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import suppress
from importlib import resources
from itertools import groupby
from operator import itemgetter
from typing import Any
from urllib.parse import urlsplit

from redis.asyncio.connection import AbstractConnection, ConnectionPool
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import AuthenticationError, RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from chatd.broker.base import (
    Broker,
    BrokerUnavailable,
    Listener,
    PresenceEntry,
    Revision,
    Roster,
    room_users_key,
)
from chatd.broker.redis_pipe import CommandPipe, LuaScript

logger = logging.getLogger(__name__)

#: No answer within this many seconds is a Redis outage, not a slow reply (Redis
#: answers in well under a millisecond), so callers fail fast instead of holding a
#: request open: connecting and the subscriber's reads give up after it, a command
#: as a whole after twice it (it may first wait for its connection to open, or
#: behind a burst of other commands).
DEFAULT_SOCKET_TIMEOUT = 2.0

#: Presence entries per upsert script call, and rooms per listing call. A node's
#: heartbeat refreshes every socket in every room: one call per socket kept the
#: event loop busy for a second every 15 s with 2,000 sockets (the p99 tail of
#: benchmark scenario 3), while one script over all of them would keep Redis,
#: which runs one script at a time, from answering anyone else until it ended.
PRESENCE_BATCH = 500
PRESENCE_LIST_BATCH = 100

#: Reconnect back-off of the subscriber: start quickly (a restart takes about a
#: second), double per failure, and stop at a few seconds so recovery after a
#: long outage is still prompt without hammering a struggling server.
DEFAULT_BACKOFF_INITIAL = 0.1
DEFAULT_BACKOFF_MAX = 5.0

#: How long one read of the subscriber connection waits before the loop looks
#: at its health; bounds how late a dead-but-silent connection is noticed.
_READ_POLL = 1.0

#: After this much silence the subscriber sends PING; no reply within the socket
#: timeout means the connection is dead even though TCP has not said so (a
#: network partition, a frozen server).
_HEALTH_PING_AFTER = 10.0

# Presence: a sorted set per room of `user_id|conn_id|username`, scored by the
# expiry in epoch ms of the Redis server's clock (one clock for every node, so
# skewed node clocks cannot expire each other's entries), beside the contract's
# plain set `<prefix>room:<room>:users` of user ids. Both keys also carry a key-level
# TTL, so a room whose every node crashed disappears on its own. Rosters (calls,
# socket counts) and counters are described in their scripts.


def _lua(*names: str) -> LuaScript:
    """One script from chatd/broker/lua/: the named files in order (libraries of
    shared local functions first, then the script's own body)."""
    folder = resources.files("chatd.broker").joinpath("lua")
    return LuaScript("".join(folder.joinpath(f"{name}.lua").read_text() for name in names))


_PRESENCE_UPSERT = _lua("presence_upsert")
_PRESENCE_REMOVE = _lua("presence_sync", "presence_remove")
_PRESENCE_LISTS = _lua("presence_sync", "presence_lists")
_COUNTER_INCR = _lua("counter_incr")
_COUNTER_DECR = _lua("counter_decr")
_COUNTER_GET = _lua("counter_get")
_ROSTER_PUT = _lua("roster_lib", "roster_put")
_ROSTER_PUT_MANY = _lua("roster_lib", "roster_put_many")
_ROSTER_REMOVE = _lua("roster_lib", "roster_remove")
_ROSTER_GET = _lua("roster_lib", "roster_get")
_ROSTER_PRUNE = _lua("roster_lib", "roster_prune")

OnReconnect = Callable[[], Awaitable[None]]


class RedisBroker(Broker):
    """Broker on Redis (redis.asyncio), so every node sees every room's events.

    Pub/sub uses the exact channel names given (the app passes
    `<prefix>room:<room>:channel`) and subscribes per channel, so a node only receives
    the rooms it serves. One dedicated connection carries the subscriptions;
    a background task reads it, reconnects with capped, jittered exponential
    back-off when it drops, resubscribes every channel and, once Redis has
    confirmed them, awaits `on_reconnect` so the app can tell its clients to
    resume (messages published during the outage were missed here, but they
    are in the store).

    Commands (publish, presence, counters, check) share one pipelined
    connection of their own with a short timeout and at most one resend (of a
    command a lost connection left unanswered), so during an outage they raise
    `BrokerUnavailable` quickly instead of hanging.
    """

    def __init__(
        self,
        url: str,
        prefix: str = "chatd:",
        *,
        on_reconnect: OnReconnect | None = None,
        socket_timeout: float = DEFAULT_SOCKET_TIMEOUT,
        backoff_initial: float = DEFAULT_BACKOFF_INITIAL,
        backoff_max: float = DEFAULT_BACKOFF_MAX,
    ) -> None:
        self._prefix = prefix
        self._on_reconnect = on_reconnect
        self._timeout = socket_timeout
        # A command's whole life: the connection (re)opening, the send, the reply,
        # which under a burst (thousands of hellos at once) waits its turn.
        self._command_timeout = 2 * socket_timeout
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._where = _describe_url(url)
        options: dict[str, Any] = {
            "socket_connect_timeout": socket_timeout,
            # RESP2 on purpose: every Redis version speaks it, and pub/sub
            # messages arrive as plain replies that `_read` parses (RESP3 would
            # turn them into push frames routed around `read_response`).
            "protocol": 2,
            # Neither connection retries on its own: every loss must reach the
            # pipe (which resends at most once) or the subscriber's `_run`
            # (which resubscribes and calls on_reconnect).
            "retry": Retry(NoBackoff(), 0),
        }
        # Every command (publish, presence, counters, check) goes through one
        # pipelined connection (chatd/broker/redis_pipe.py), which bounds each by
        # `_command_timeout` and reconnects on the next command after a failure.
        # Its reads have no socket timeout: the pipe's watchdog bounds them.
        self._command_connections = ConnectionPool.from_url(url, **options)
        self._commands = CommandPipe(
            self._command_connections.make_connection, self._command_timeout
        )
        self._sub_pool = ConnectionPool.from_url(url, socket_timeout=socket_timeout, **options)

        self._listener: Listener | None = None
        self._channels: set[str] = set()
        # Orders the connection's initial SUBSCRIBE before the ops queued after it.
        self._sub_lock = asyncio.Lock()
        self._sub_conn: AbstractConnection | None = None
        self._sub_waiters: dict[str, asyncio.Future[None]] = {}
        #: (command, channel) for the live connection, sent by `_sub_sender`.
        self._sub_ops: list[tuple[str, str]] = []
        self._sub_sender: asyncio.Task[None] | None = None
        # True from start() until the first connection attempt has failed or
        # succeeded: subscribe() then waits for it rather than return before
        # the subscription exists (and miss the first messages).
        self._first_connect = False
        self._task: asyncio.Task[None] | None = None

    # -- lifecycle -------------------------------------------------------------
    async def start(self) -> None:
        """Launch the subscriber task and return at once, whether or not Redis is up."""
        if self._task is None:
            self._first_connect = True
            self._task = asyncio.create_task(self._run(), name="redis-broker-subscriber")

    async def close(self) -> None:
        """Stop the subscriber task and close every connection."""
        for task in (self._task, self._sub_sender):
            if task is not None:
                task.cancel()
                with suppress(asyncio.CancelledError):
                    await task
        self._task = self._sub_sender = None
        await self._commands.close()
        await self._command_connections.aclose()
        await self._sub_pool.aclose()

    @property
    def connected(self) -> bool:
        """Whether the subscriber connection is currently up."""
        return self._sub_conn is not None

    async def check(self) -> None:
        await self._call(self._commands.execute("PING"))

    # -- pub/sub ---------------------------------------------------------------
    def set_listener(self, listener: Listener) -> None:
        self._listener = listener

    async def publish(self, channel: str, data: bytes) -> None:
        await self._call(self._commands.execute("PUBLISH", channel, data))

    async def subscribe(self, channel: str) -> None:
        """Subscribe, returning once Redis has confirmed it when Redis is up.

        While Redis is down this only records the channel (it is subscribed on
        reconnect) and returns without raising: joining a room should not fail
        because fan-out to other nodes is briefly impossible.
        """
        waiter = self._sub_waiters.get(channel)
        if channel not in self._channels:
            self._channels.add(channel)
            if waiter is None and (self._sub_conn is not None or self._first_connect):
                waiter = asyncio.get_running_loop().create_future()
                self._sub_waiters[channel] = waiter
            if self._sub_conn is not None:
                self._queue_sub_op("SUBSCRIBE", channel)
        if waiter is not None:
            with suppress(TimeoutError):
                async with asyncio.timeout(self._timeout):
                    await asyncio.shield(waiter)

    async def unsubscribe(self, channel: str) -> None:
        if channel not in self._channels:
            return
        self._channels.discard(channel)
        if self._sub_conn is not None:
            self._queue_sub_op("UNSUBSCRIBE", channel)

    def _queue_sub_op(self, command: str, channel: str) -> None:
        """Have the live connection (un)subscribe `channel`, after every op queued before.

        One task sends what is queued, consecutive ops of a kind as one command:
        a reconnect storm asks for thousands of channels at once, and one send
        each, in turn under the lock, made every hello wait for all before it.
        """
        self._sub_ops.append((command, channel))
        if self._sub_sender is None:
            self._sub_sender = asyncio.create_task(
                self._send_sub_ops(), name="redis-broker-subscriptions"
            )

    async def _send_sub_ops(self) -> None:
        try:
            async with self._sub_lock:
                while self._sub_ops:
                    conn = self._sub_conn
                    ops, self._sub_ops = self._sub_ops, []
                    if conn is None:
                        return  # the next connection subscribes every wanted channel
                    for command, run in groupby(ops, key=itemgetter(0)):
                        channels = [channel for _command, channel in run]
                        try:
                            await conn.send_command(command, *channels, check_health=False)
                        except (RedisError, OSError) as exc:
                            # The connection is gone; the subscriber task notices,
                            # reconnects and subscribes every wanted channel.
                            logger.debug("%s not sent: %s", command, exc)
                            return
        finally:
            self._sub_sender = None

    async def _run(self) -> None:
        """Keep one subscriber connection up for as long as the broker lives."""
        delay = self._backoff_initial
        down_since: float | None = None
        while True:
            try:
                conn, channels = await self._connect()
            except Exception as exc:
                self._release_waiters()
                if down_since is None:
                    down_since = time.monotonic()
                    logger.warning("%s; retrying in the background", self._unavailable(exc))
                else:
                    logger.debug("redis reconnect failed: %s", exc)
                delay = await self._backoff(delay)
                continue
            connected_at = time.monotonic()
            # Only after an outage can messages have been missed: then the app
            # is told to let its clients resume once every channel is back.
            resume = down_since is not None and bool(channels)
            if down_since is not None:
                logger.info(
                    "redis at %s is back after %.1f s; resubscribing %d channels",
                    self._where,
                    connected_at - down_since,
                    len(channels),
                )
            try:
                await self._read(conn, set(channels) if resume else None)
            except (RedisError, OSError) as exc:
                logger.warning("lost %s", self._unavailable(exc))
            except Exception:
                logger.exception("redis subscriber failed; reconnecting")
            finally:
                self._sub_conn = None
                self._release_waiters()
                await conn.disconnect(nowait=True)
            down_since = time.monotonic()
            # A connection that held for a while earns a fresh back-off; one that
            # drops right after connecting keeps growing it, so a flapping server
            # is not hammered.
            if down_since - connected_at > self._backoff_max:
                delay = self._backoff_initial
            delay = await self._backoff(delay)

    async def _backoff(self, delay: float) -> float:
        """Sleep about `delay` seconds and return the next, doubled up to the cap."""
        # Jitter spreads the reconnects of many nodes after a shared outage.
        await asyncio.sleep(delay * random.uniform(0.5, 1.0))
        return min(delay * 2, self._backoff_max)

    async def _connect(self) -> tuple[AbstractConnection, list[str]]:
        """Open the subscriber connection and subscribe every wanted channel."""
        # A connection of our own, not borrowed from the pool: its lifetime is
        # exactly one subscription session.
        conn: AbstractConnection = self._sub_pool.make_connection()  # type: ignore[no-untyped-call]
        try:
            await conn.connect()  # type: ignore[no-untyped-call]
            async with self._sub_lock:
                # Taken and installed together (no await between them): a
                # channel added before is in `channels`, one added after is
                # queued for this connection, behind the SUBSCRIBE below.
                channels = sorted(self._channels)
                self._sub_ops.clear()
                self._sub_conn = conn
                self._first_connect = False
                if channels:
                    await conn.send_command("SUBSCRIBE", *channels, check_health=False)
        except BaseException:
            if self._sub_conn is conn:
                self._sub_conn = None
            await conn.disconnect(nowait=True)
            raise
        return conn, channels

    def _release_waiters(self) -> None:
        """Let every waiting subscribe() return: its channel is subscribed on reconnect."""
        self._first_connect = False
        waiters, self._sub_waiters = self._sub_waiters, {}
        for waiter in waiters.values():
            if not waiter.done():
                waiter.set_result(None)

    async def _read(self, conn: AbstractConnection, resume: set[str] | None) -> None:
        """Hand every message to the listener, in order, until the connection fails.

        `resume` holds the resubscribed channels after an outage; once Redis
        has confirmed them all, `on_reconnect` is awaited (before any later
        message is delivered).
        """
        last_heard = time.monotonic()
        ping_sent: float | None = None
        while True:
            frame = await conn.read_response(timeout=_READ_POLL, disconnect_on_error=False)
            now = time.monotonic()
            if frame is None:
                if ping_sent is not None and now - ping_sent > self._timeout:
                    raise RedisTimeoutError(f"no answer to PING within {self._timeout:g} s")
                if ping_sent is None and now - last_heard > _HEALTH_PING_AFTER:
                    await conn.send_command("PING", check_health=False)
                    ping_sent = now
                continue
            last_heard, ping_sent = now, None
            kind = frame[0]
            if kind == b"message":
                await self._deliver(frame[1].decode(), frame[2])
            elif kind == b"subscribe":
                channel = frame[1].decode()
                waiter = self._sub_waiters.pop(channel, None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(None)
                if resume is not None:
                    resume.discard(channel)
                    if not resume:
                        resume = None
                        await self._resumed()

    async def _resumed(self) -> None:
        if self._on_reconnect is None:
            return
        try:
            await self._on_reconnect()
        except Exception:
            logger.exception("broker on_reconnect hook failed")

    async def _deliver(self, channel: str, data: bytes) -> None:
        # Messages already in flight when we unsubscribed are dropped here.
        if self._listener is None or channel not in self._channels:
            return
        try:
            await self._listener(channel, data)
        except Exception:
            logger.exception("broker listener failed on %s", channel)

    # -- presence --------------------------------------------------------------
    def _conns_key(self, room_id: str) -> str:
        return f"{self._prefix}room:{room_id}:conns"

    async def presence_refresh_many(
        self, entries: Sequence[tuple[str, PresenceEntry]], ttl: float
    ) -> None:
        """Upsert the entries: also restores those lost with a Redis restart."""
        for start in range(0, len(entries), PRESENCE_BATCH):
            by_room: dict[str, list[PresenceEntry]] = {}
            for room_id, entry in entries[start : start + PRESENCE_BATCH]:
                by_room.setdefault(room_id, []).append(entry)
            keys: list[str] = []
            args: list[str | int] = [_ms(ttl)]
            for room_id, room_entries in by_room.items():
                keys += (self._conns_key(room_id), room_users_key(self._prefix, room_id))
                args.append(len(room_entries))
                for entry in room_entries:
                    args += (_member(entry), entry.user_id)
            await self._call(self._commands.script(_PRESENCE_UPSERT, keys, args))

    async def presence_remove(self, room_id: str, entry: PresenceEntry) -> None:
        keys = [self._conns_key(room_id), room_users_key(self._prefix, room_id)]
        await self._call(self._commands.script(_PRESENCE_REMOVE, keys, [_member(entry)]))

    async def presence_lists(self, room_ids: Sequence[str]) -> dict[str, list[tuple[str, str]]]:
        online: dict[str, list[tuple[str, str]]] = {}
        for start in range(0, len(room_ids), PRESENCE_LIST_BATCH):
            chunk = room_ids[start : start + PRESENCE_LIST_BATCH]
            keys = [
                k
                for room in chunk
                for k in (self._conns_key(room), room_users_key(self._prefix, room))
            ]
            replies = await self._call(self._commands.script(_PRESENCE_LISTS, keys, []))
            for room_id, members in zip(chunk, replies, strict=True):
                online[room_id] = _online_users(members)
        return online

    # -- rosters ---------------------------------------------------------------
    def _roster_keys(self, key: str) -> list[str]:
        return [f"{self._prefix}roster:{key}", f"{self._prefix}roster:{key}:exp"]

    async def roster_put(
        self, key: str, member: str, value: bytes, ttl: float, *, limit: int | None = None
    ) -> Revision:
        args: list[str | int | bytes] = [member, value, _ms(ttl), limit or 0]
        keys = self._roster_keys(key)
        rev = await self._call(self._commands.script(_ROSTER_PUT, keys, args))
        return None if rev is None else int(rev)

    async def roster_put_many(self, entries: Sequence[tuple[str, str, bytes]], ttl: float) -> None:
        # Batched like presence: one script per batch, so Redis (one script at a
        # time) still answers everyone else between batches.
        for start in range(0, len(entries), PRESENCE_BATCH):
            keys: list[str] = []
            args: list[str | int | bytes] = [_ms(ttl)]
            for key, member, value in entries[start : start + PRESENCE_BATCH]:
                keys += self._roster_keys(key)
                args += (member, value)
            await self._call(self._commands.script(_ROSTER_PUT_MANY, keys, args))

    async def roster_remove(self, key: str, member: str) -> Revision:
        keys = self._roster_keys(key)
        rev = await self._call(self._commands.script(_ROSTER_REMOVE, keys, [member]))
        return None if rev is None else int(rev)

    async def roster_get(self, key: str) -> Roster:
        keys = self._roster_keys(key)
        reply = await self._call(self._commands.script(_ROSTER_GET, keys, []))
        pairs = reply[1:]
        members = {bytes(pairs[i]).decode(): bytes(pairs[i + 1]) for i in range(0, len(pairs), 2)}
        return Roster(int(reply[0]), members)

    async def roster_prune(self, keys: list[str]) -> list[str]:
        if not keys:
            return []
        redis_keys = [k for key in keys for k in self._roster_keys(key)]
        changed = await self._call(self._commands.script(_ROSTER_PRUNE, redis_keys, []))
        return [keys[int(i) - 1] for i in changed]

    # -- counters --------------------------------------------------------------
    def _counter_key(self, key: str) -> str:
        return f"{self._prefix}counter:{key}"

    async def incr(self, key: str, ttl: float) -> int:
        keys = [self._counter_key(key)]
        value = await self._call(self._commands.script(_COUNTER_INCR, keys, [_ms(ttl)]))
        return int(value)

    async def decr(self, key: str) -> None:
        keys = [self._counter_key(key)]
        await self._call(self._commands.script(_COUNTER_DECR, keys, []))

    async def get_counter(self, key: str) -> tuple[int, float]:
        keys = [self._counter_key(key)]
        value, pttl = await self._call(self._commands.script(_COUNTER_GET, keys, []))
        if value is None:
            return 0, 0.0
        # A key without a TTL (-1) cannot come from `incr`; report no time left.
        return int(value), max(int(pttl), 0) / 1000

    async def delete(self, key: str) -> None:
        await self._call(self._commands.execute("DEL", self._counter_key(key)))

    # -- errors ----------------------------------------------------------------
    async def _call(self, op: Awaitable[Any]) -> Any:
        """Await a command, turning any Redis or network failure into BrokerUnavailable.

        No timer here: the command pipe ends every command within the command
        timeout (a timer per command cost as much as its whole reply).
        """
        try:
            return await op
        except (RedisError, OSError) as exc:
            raise self._unavailable(exc, self._command_timeout) from exc

    def _unavailable(self, exc: BaseException, timeout: float | None = None) -> BrokerUnavailable:
        reason = _reason(exc, self._timeout if timeout is None else timeout)
        return BrokerUnavailable(f"redis at {self._where}: {reason}")


def _online_users(members: list[bytes]) -> list[tuple[str, str]]:
    """(user_id, username) pairs, sorted, of a room's live presence members."""
    # ZRANGE is in expiry order, so the last-refreshed connection names the user.
    users: dict[str, str] = {}
    for member in members:
        user_id, _conn_id, username = bytes(member).decode().split("|", 2)
        users[user_id] = username
    return sorted(users.items())


def _member(entry: PresenceEntry) -> str:
    return f"{entry.user_id}|{entry.conn_id}|{entry.username}"


def _ms(seconds: float) -> int:
    # PEXPIRE refuses 0; a sub-millisecond TTL still gets one millisecond.
    return max(1, round(seconds * 1000))


def _describe_url(url: str) -> str:
    """host:port (or socket path) of a Redis URL, without credentials."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return parts.path
    return f"{parts.hostname or 'localhost'}:{parts.port or 6379}"


def _reason(exc: BaseException, timeout: float) -> str:
    """A short, readable cause for an operator: 'connection refused', 'timed out'..."""
    seen: BaseException | None = exc
    chain: list[BaseException] = []
    while seen is not None and len(chain) < 8:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    for err in chain:
        if isinstance(err, ConnectionRefusedError):
            return "connection refused"
        if isinstance(err, socket.gaierror):
            return "host name does not resolve"
        if isinstance(err, AuthenticationError):
            return "authentication failed"
        if isinstance(err, TimeoutError | RedisTimeoutError):
            return f"no answer within {timeout:g} s"
    for err in chain:
        if isinstance(err, OSError) and err.strerror:
            return err.strerror.lower()
    return str(exc) or type(exc).__name__
