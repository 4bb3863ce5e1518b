"""Redis commands pipelined on one connection: written as issued, replies taken in order.

Through redis-py's client a command costs ~60-100 us of Python (a pooled
connection behind an asyncio.Condition, retry and observability wrappers, a
timeout, a reply read of its own), several times Redis's own work, and a node
sends one for every event it publishes (1,000 a second in benchmark scenario
3). Here a command is packed straight into the connection's write buffer (the
commands of one event-loop tick in one write), and one reader task hands each
reply to the command first in line: Redis answers a connection's commands in
the order they were sent. The same publish and its echo cost ~40 us of CPU
instead of ~105 (bench/README.md, optimisation log).

redis-py still opens the connection (TLS, unix sockets, AUTH, SELECT from the
URL) and parses replies (hiredis). Replies are the parser's own: bytes, ints,
lists, with none of redis-py's per-command reply callbacks.

Every command ends within `timeout`, without a timer of its own: connecting is
bounded, and a watchdog (one timer at a time per connection) drops a connection
whose oldest unanswered command has waited longer; every command on it then
fails, and the next command connects afresh.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError
from redis.typing import EncodableT

from chatd._compat import redis_stream_writer
from chatd.util.futures import fail_all, settle

logger = logging.getLogger(__name__)

ConnectionFactory = Callable[[], AbstractConnection]


@dataclass(frozen=True)
class LuaScript:
    """A Lua script, run by its SHA1 (EVALSHA) and loaded when Redis does not have it."""

    source: str
    sha: str = field(init=False)

    def __post_init__(self) -> None:
        digest = hashlib.sha1(self.source.encode(), usedforsecurity=False).hexdigest()
        object.__setattr__(self, "sha", digest)


@dataclass(slots=True)
class _Command:
    packed: list[bytes]
    reply: asyncio.Future[Any]
    #: Written to a connection that was then lost before it answered.
    retried: bool = False


class CommandPipe:
    """Runs commands on one pipelined connection, opened on first use and after a loss.

    Commands left unanswered on a connection that is lost after it opened
    (Redis restarted, a proxy closed it) go to a new connection, in their
    order, ahead of commands not sent yet. One that had been written is sent
    at most once more, as redis-py's own single retry would: a lost connection
    is usually noticed by the command that found it dead. Such a command may
    run twice; every command chatd sends tolerates that (an extra PUBLISH is
    dropped by the receiving hub's seq check or is an ephemeral frame, scripts
    set absolute state, counters only rate-limit).
    """

    def __init__(self, connect: ConnectionFactory, timeout: float) -> None:
        self._connect = connect
        self._timeout = timeout
        self._session: _Session | None = None
        self._closed = False

    def execute(self, *args: EncodableT) -> asyncio.Future[Any]:
        """The reply of one command; an error reply is raised as its ResponseError."""
        reply: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if self._closed:
            reply.set_exception(RedisConnectionError("the command connection is closed"))
        else:
            session = self._live_session()
            # Packed here, so an argument redis-py cannot encode fails its caller.
            session.submit([_Command(session.pack(args), reply)])
        return reply

    async def script(
        self, script: LuaScript, keys: Sequence[EncodableT], args: Sequence[EncodableT]
    ) -> Any:
        """Run `script` by its SHA, loading it first if Redis lost it (a restart, a flush)."""
        try:
            return await self.execute("EVALSHA", script.sha, len(keys), *keys, *args)
        except NoScriptError:
            await self.execute("SCRIPT", "LOAD", script.source)
            return await self.execute("EVALSHA", script.sha, len(keys), *keys, *args)

    async def close(self) -> None:
        """Let the commands under way finish (up to the timeout), then close the connection."""
        self._closed = True
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _live_session(self) -> _Session:
        session = self._session
        if session is None or session.ended:
            session = self._session = _Session(self._connect(), self._timeout, self._hand_on)
        return session

    def _hand_on(self, written: list[_Command], unsent: list[_Command]) -> None:
        """Give a new connection what a lost one left unanswered (written: once more)."""
        lost = RedisConnectionError("connection to redis lost")
        fail_all([command.reply for command in written if command.retried], lost)
        again = [command for command in written if not command.retried]
        for command in again:
            command.retried = True
        if self._closed:
            fail_all([command.reply for command in again + unsent], lost)
            return
        self._live_session().submit(again + unsent, first=True)


class _Session:
    """One connection's life: connect, write commands, read replies, hand on what is left."""

    def __init__(
        self,
        conn: AbstractConnection,
        timeout: float,
        on_lost: Callable[[list[_Command], list[_Command]], None],
    ) -> None:
        self._conn = conn
        self._timeout = timeout
        self._on_lost = on_lost
        self._loop = asyncio.get_running_loop()
        #: Issued, not yet written (the connection is still opening, or this tick's).
        self._unsent: list[_Command] = []
        #: Written, in order, with the loop time they were written at.
        self._in_flight: deque[tuple[float, _Command]] = deque()
        self._writer: asyncio.StreamWriter | None = None
        self._flush_scheduled = False
        self._watchdog: asyncio.TimerHandle | None = None
        self.ended = False
        self._task = self._loop.create_task(self._run(), name="redis-commands")

    def pack(self, args: tuple[EncodableT, ...]) -> list[bytes]:
        return self._conn.pack_command(*args)

    def submit(self, commands: list[_Command], *, first: bool = False) -> None:
        if first:
            self._unsent[:0] = commands
        else:
            self._unsent += commands
        if self._writer is not None and not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)

    async def close(self) -> None:
        waiting = [command.reply for command in self._unsent]
        waiting += [command.reply for _sent, command in self._in_flight]
        if waiting:
            await asyncio.wait(waiting, timeout=self._timeout)
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        failure: Exception = RedisConnectionError("the command connection is closed")
        opened = False
        try:
            try:
                async with asyncio.timeout(self._timeout):
                    await self._conn.connect()  # type: ignore[no-untyped-call]
            except TimeoutError:
                raise TimeoutError(f"no answer within {self._timeout:g} s") from None
            opened = True
            self._writer = redis_stream_writer(self._conn)
            self._flush()
            await self._read_replies()
        except Exception as exc:
            failure = exc
        finally:
            self.ended = True
            self._writer = None
            if self._watchdog is not None:
                self._watchdog.cancel()
            written = [command for _sent, command in self._in_flight if not command.reply.done()]
            unsent = [command for command in self._unsent if not command.reply.done()]
            self._in_flight.clear()
            self._unsent = []
            if opened and _is_lost_connection(failure):
                self._on_lost(written, unsent)
            else:
                fail_all([command.reply for command in written + unsent], failure)
            await self._conn.disconnect(nowait=True)

    def _flush(self) -> None:
        self._flush_scheduled = False
        writer = self._writer
        if writer is None or not self._unsent:
            return
        batch = [command for command in self._unsent if not command.reply.done()]
        self._unsent = []
        now = self._loop.time()
        # In flight before the write: should the write fail, the commands are
        # answered (with the failure) when the reader finds the connection gone.
        self._in_flight.extend((now, command) for command in batch)
        if self._watchdog is None and self._in_flight:
            self._watchdog = self._loop.call_at(now + self._timeout, self._check_overdue)
        try:
            writer.writelines([chunk for command in batch for chunk in command.packed])
        except Exception as exc:
            logger.warning("writing to redis failed: %s", exc)
            writer.close()

    def _check_overdue(self) -> None:
        """Drop the connection if its oldest command has waited too long; else look again."""
        self._watchdog = None
        if not self._in_flight or self._writer is None:
            return
        oldest = self._in_flight[0][0]
        if self._loop.time() - oldest >= self._timeout:
            overdue = TimeoutError(f"no answer within {self._timeout:g} s")
            fail_all([command.reply for _sent, command in self._in_flight], overdue)
            # Later commands go to a new connection; the reader's next read
            # fails and ends this session.
            self.ended = True
            self._writer.close()
            self._writer = None
            return
        self._watchdog = self._loop.call_at(oldest + self._timeout, self._check_overdue)

    async def _read_replies(self) -> None:
        in_flight = self._in_flight
        while True:
            try:
                reply = await self._conn.read_response(disconnect_on_error=False)
            except ResponseError as exc:
                reply = exc  # an error reply: the connection itself is fine
            if not in_flight:
                raise RedisConnectionError("redis sent a reply to no command")
            _sent, command = in_flight.popleft()
            settle((command.reply,), (reply,))  # skipped if its caller gave up


def _is_lost_connection(failure: Exception) -> bool:
    """A connection that worked and then broke (not a timeout: that would wait again)."""
    if isinstance(failure, TimeoutError):
        return False
    return isinstance(failure, RedisConnectionError | ConnectionError)
