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
# plain set `room:<room>:users` of user ids. Both keys also carry a key-level
# TTL, so a room whose every node crashed disappears on its own.

# KEYS: conns1, users1, conns2, users2, ...
# ARGV: ttl_ms, then per key pair: n, member1, user_id1, ..., member_n, user_id_n
_PRESENCE_UPSERT = """
local t = redis.call('TIME')
local ttl = tonumber(ARGV[1])
local expiry = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + ttl
local a = 2
for i = 1, #KEYS, 2 do
  local n = tonumber(ARGV[a])
  a = a + 1
  for _ = 1, n do
    redis.call('ZADD', KEYS[i], expiry, ARGV[a])
    redis.call('SADD', KEYS[i + 1], ARGV[a + 1])
    a = a + 2
  end
  for j = i, i + 1 do
    if redis.call('PTTL', KEYS[j]) < ttl then redis.call('PEXPIRE', KEYS[j], ttl) end
  end
end
return 1
"""

# Prune expired connections, then make the users set exactly the users that
# still have a live connection. Returns the live members.
_PRESENCE_SYNC = """
local function sync(conns, users)
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  redis.call('ZREMRANGEBYSCORE', conns, '-inf', now)
  local members = redis.call('ZRANGE', conns, 0, -1)
  local live = {}
  for _, m in ipairs(members) do
    live[string.match(m, '^([^|]*)|')] = true
  end
  for _, uid in ipairs(redis.call('SMEMBERS', users)) do
    if not live[uid] then redis.call('SREM', users, uid) end
  end
  if #members > 0 then
    for uid, _ in pairs(live) do redis.call('SADD', users, uid) end
    local pttl = redis.call('PTTL', conns)
    if pttl > 0 then redis.call('PEXPIRE', users, pttl) end
  end
  return members
end
"""

# KEYS: conns, users   ARGV: member
_PRESENCE_REMOVE = (
    _PRESENCE_SYNC
    + """
redis.call('ZREM', KEYS[1], ARGV[1])
sync(KEYS[1], KEYS[2])
return 1
"""
)

# KEYS: conns1, users1, conns2, users2, ...   -> the live members of each room
_PRESENCE_LISTS = (
    _PRESENCE_SYNC
    + """
local out = {}
for i = 1, #KEYS, 2 do
  out[#out + 1] = sync(KEYS[i], KEYS[i + 1])
end
return out
"""
)

# The first increment sets the TTL; checking PTTL instead of the INCR result
# also repairs a key that somehow lost its TTL. (EXPIRE NX would need Redis 7.)
# KEYS: counter   ARGV: ttl_ms
_COUNTER_INCR = """
local v = redis.call('INCR', KEYS[1])
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return v
"""

# Only a live, positive counter is decremented; DECR keeps its TTL.
# KEYS: counter
_COUNTER_DECR = """
local v = tonumber(redis.call('GET', KEYS[1]) or '0')
if v > 0 then redis.call('DECR', KEYS[1]) end
return 1
"""

# A counter's value and remaining ms in one round trip (every hello reads one:
# the token's revocation mark). A script, not a MULTI pipeline: redis-py builds
# a Pipeline object per call, which cost more than the round trip itself.
_COUNTER_GET = """
return {redis.call('GET', KEYS[1]), redis.call('PTTL', KEYS[1])}
"""

# Rosters: a hash `<prefix>roster:<key>` (field `_rev` plus `m:<member>` -> value)
# and a sorted set `<prefix>roster:<key>:exp` of members scored by expiry in ms
# of the Redis server's clock (one clock for every node). Revisions are at least
# the server time in microseconds, so they keep growing after the keys expire.
# Both keys carry a key-level TTL as a backstop.
_ROSTER_LIB = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local now_us = tonumber(t[1]) * 1000000 + tonumber(t[2])
local function bump(hash)
  local rev = tonumber(redis.call('HGET', hash, '_rev') or '0')
  rev = math.max(rev + 1, now_us)
  redis.call('HSET', hash, '_rev', string.format('%.0f', rev))
  return rev
end
local function prune(hash, exp)
  local gone = redis.call('ZRANGEBYSCORE', exp, '-inf', now)
  if #gone == 0 then return false end
  redis.call('ZREMRANGEBYSCORE', exp, '-inf', now)
  for _, m in ipairs(gone) do redis.call('HDEL', hash, 'm:' .. m) end
  bump(hash)
  return true
end
local function rev_of(hash)
  return redis.call('HGET', hash, '_rev') or '0'
end
"""

# Only roster_prune deletes expired members, so exactly one caller learns of
# an expiry; the others just do not count or list them.
# KEYS: hash, exp   ARGV: member, value, ttl_ms, limit (0: none)
_ROSTER_PUT = (
    _ROSTER_LIB
    + """
local field = 'm:' .. ARGV[1]
local score = redis.call('ZSCORE', KEYS[2], ARGV[1])
local live = score and tonumber(score) > now
local limit = tonumber(ARGV[4])
if not live and limit > 0 and redis.call('ZCOUNT', KEYS[2], '(' .. now, '+inf') >= limit then
  return false
end
local ttl = tonumber(ARGV[3])
redis.call('ZADD', KEYS[2], now + ttl, ARGV[1])
local rev
if live and redis.call('HGET', KEYS[1], field) == ARGV[2] then
  rev = rev_of(KEYS[1])
else
  redis.call('HSET', KEYS[1], field, ARGV[2])
  rev = string.format('%.0f', bump(KEYS[1]))
end
for _, k in ipairs(KEYS) do
  if redis.call('PTTL', k) < ttl then redis.call('PEXPIRE', k, ttl) end
end
return rev
"""
)

# roster_put without a limit for many members of many rosters.
# KEYS: hash1, exp1, hash2, exp2, ...   ARGV: ttl_ms, then per key pair: member, value
_ROSTER_PUT_MANY = (
    _ROSTER_LIB
    + """
local ttl = tonumber(ARGV[1])
for i = 1, #KEYS, 2 do
  local hash, exp = KEYS[i], KEYS[i + 1]
  local member, value = ARGV[i + 1], ARGV[i + 2]
  local field = 'm:' .. member
  local score = redis.call('ZSCORE', exp, member)
  local live = score and tonumber(score) > now
  redis.call('ZADD', exp, now + ttl, member)
  if not (live and redis.call('HGET', hash, field) == value) then
    redis.call('HSET', hash, field, value)
    bump(hash)
  end
  for _, k in ipairs({hash, exp}) do
    if redis.call('PTTL', k) < ttl then redis.call('PEXPIRE', k, ttl) end
  end
end
return 1
"""
)

# KEYS: hash, exp   ARGV: member
_ROSTER_REMOVE = (
    _ROSTER_LIB
    + """
if redis.call('HDEL', KEYS[1], 'm:' .. ARGV[1]) == 0 then return false end
redis.call('ZREM', KEYS[2], ARGV[1])
return string.format('%.0f', bump(KEYS[1]))
"""
)

# KEYS: hash, exp   -> {rev, member1, value1, ...} of live members
_ROSTER_GET = (
    _ROSTER_LIB
    + """
local out = {rev_of(KEYS[1])}
for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. now, '+inf')) do
  local v = redis.call('HGET', KEYS[1], 'm:' .. m)
  if v then
    table.insert(out, m)
    table.insert(out, v)
  end
end
return out
"""
)

# KEYS: hash1, exp1, hash2, exp2, ...   -> indexes (1-based pairs) that lost members
_ROSTER_PRUNE = (
    _ROSTER_LIB
    + """
local changed = {}
for i = 1, #KEYS, 2 do
  if prune(KEYS[i], KEYS[i + 1]) then table.insert(changed, (i + 1) / 2) end
end
return changed
"""
)

OnReconnect = Callable[[], Awaitable[None]]


class RedisBroker(Broker):
    """Broker on Redis (redis.asyncio), so every node sees every room's events.

    Pub/sub uses the exact channel names given (the app passes
    `room:<room>:channel`) and subscribes per channel, so a node only receives
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
        self._upsert = LuaScript(_PRESENCE_UPSERT)
        self._presence_remove = LuaScript(_PRESENCE_REMOVE)
        self._presence_lists = LuaScript(_PRESENCE_LISTS)
        self._counter_incr = LuaScript(_COUNTER_INCR)
        self._counter_decr = LuaScript(_COUNTER_DECR)
        self._counter_get = LuaScript(_COUNTER_GET)
        self._roster_put = LuaScript(_ROSTER_PUT)
        self._roster_put_many = LuaScript(_ROSTER_PUT_MANY)
        self._roster_remove = LuaScript(_ROSTER_REMOVE)
        self._roster_get = LuaScript(_ROSTER_GET)
        self._roster_prune = LuaScript(_ROSTER_PRUNE)

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
                keys += (self._conns_key(room_id), room_users_key(room_id))
                args.append(len(room_entries))
                for entry in room_entries:
                    args += (_member(entry), entry.user_id)
            await self._call(self._commands.script(self._upsert, keys, args))

    async def presence_remove(self, room_id: str, entry: PresenceEntry) -> None:
        keys = [self._conns_key(room_id), room_users_key(room_id)]
        await self._call(self._commands.script(self._presence_remove, keys, [_member(entry)]))

    async def presence_lists(self, room_ids: Sequence[str]) -> dict[str, list[tuple[str, str]]]:
        online: dict[str, list[tuple[str, str]]] = {}
        for start in range(0, len(room_ids), PRESENCE_LIST_BATCH):
            chunk = room_ids[start : start + PRESENCE_LIST_BATCH]
            keys = [k for room in chunk for k in (self._conns_key(room), room_users_key(room))]
            replies = await self._call(self._commands.script(self._presence_lists, keys, []))
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
        rev = await self._call(self._commands.script(self._roster_put, keys, args))
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
            await self._call(self._commands.script(self._roster_put_many, keys, args))

    async def roster_remove(self, key: str, member: str) -> Revision:
        keys = self._roster_keys(key)
        rev = await self._call(self._commands.script(self._roster_remove, keys, [member]))
        return None if rev is None else int(rev)

    async def roster_get(self, key: str) -> Roster:
        keys = self._roster_keys(key)
        reply = await self._call(self._commands.script(self._roster_get, keys, []))
        pairs = reply[1:]
        members = {bytes(pairs[i]).decode(): bytes(pairs[i + 1]) for i in range(0, len(pairs), 2)}
        return Roster(int(reply[0]), members)

    async def roster_prune(self, keys: list[str]) -> list[str]:
        if not keys:
            return []
        redis_keys = [k for key in keys for k in self._roster_keys(key)]
        changed = await self._call(self._commands.script(self._roster_prune, redis_keys, []))
        return [keys[int(i) - 1] for i in changed]

    # -- counters --------------------------------------------------------------
    def _counter_key(self, key: str) -> str:
        return f"{self._prefix}counter:{key}"

    async def incr(self, key: str, ttl: float) -> int:
        keys = [self._counter_key(key)]
        value = await self._call(self._commands.script(self._counter_incr, keys, [_ms(ttl)]))
        return int(value)

    async def decr(self, key: str) -> None:
        keys = [self._counter_key(key)]
        await self._call(self._commands.script(self._counter_decr, keys, []))

    async def get_counter(self, key: str) -> tuple[int, float]:
        keys = [self._counter_key(key)]
        value, pttl = await self._call(self._commands.script(self._counter_get, keys, []))
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
