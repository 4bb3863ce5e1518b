"""A generator process: many WebSocket clients on one asyncio loop, driven over a Pipe.

Sending is open loop: one timetable per process spaces messages `1/rate` apart and
round-robins them over this process's senders, without waiting for any reply. If
the loop falls behind, the overdue messages go out at once still stamped with
their *intended* time, and the lag is recorded separately (send_lag) so a
struggling generator is visible instead of silently lowering the offered load.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import random
import resource
import time
from collections import defaultdict
from collections.abc import Callable, Coroutine
from multiprocessing.connection import Connection
from typing import Any

import aiohttp
from aiohttp import ClientWebSocketResponse, WSMsgType

from bench import payload
from bench.commands import (
    ArmReconnect,
    Close,
    Connect,
    ConnectReport,
    ConnSpec,
    Join,
    KillAcks,
    PhaseCollect,
    PhaseProgress,
    PhaseReport,
    PhaseStart,
    Progress,
    SendReport,
    Setup,
    Snapshot,
    SnapshotReport,
    StormReport,
    StormStatus,
    WarmSend,
    WarmStatus,
)
from bench.histogram import LatencyHistogram
from bench.protocol import CLOSE, WIRES, Wire
from bench.sysutil import raise_nofile_limit

try:
    import uvloop

    UVLOOP: Callable[[], asyncio.AbstractEventLoop] | None = uvloop.new_event_loop
except ImportError:  # optional: the default loop works too, a little slower
    UVLOOP = None

#: Frames can carry long padding in size experiments; never let the client cap them.
MAX_FRAME = 16 * 1024 * 1024


class PhaseStats:
    """Everything one measurement phase counts in this process."""

    def __init__(self, phase: str) -> None:
        self.phase = phase
        self.latency = LatencyHistogram()
        #: Latency from the timetable's intended send time (coordinated-omission safe).
        self.latency_sched = LatencyHistogram()
        self.ack_latency = LatencyHistogram()
        self.send_lag = LatencyHistogram()
        self.sent_by_room: dict[str, int] = defaultdict(int)
        self.rejected_by_room: dict[str, int] = defaultdict(int)
        self.errors: dict[str, int] = defaultdict(int)
        self.send_failed = 0
        self.acked = 0
        self.received = 0
        self.duplicates = 0
        self.foreign = 0
        self.late = 0
        self.closed = 0
        self.first_recv_ns = 0
        self.last_recv_ns = 0
        self.send_start_ns = 0
        self.send_end_ns = 0
        self.ru_start = _cpu_seconds()
        self.wall_start = time.monotonic()


def _cpu_seconds() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


class Client:
    """One connection's state; also the Sink its wire protocol reports frames to."""

    __slots__ = (
        "ahead",
        "attempt_ns",
        "contig",
        "contig_at_arm",
        "n",
        "pending",
        "reader",
        "ready_ns",
        "reconnecting",
        "spec",
        "timeline",
        "warm",
        "worker",
        "ws",
    )

    def __init__(self, spec: ConnSpec, worker: Worker) -> None:
        self.spec = spec
        self.worker = worker
        self.ws: ClientWebSocketResponse | None = None
        self.reader: asyncio.Task[None] | None = None
        self.n = 0
        #: ref -> (room, intended send ns, frame) for messages not yet acked.
        self.pending: dict[int, tuple[str, int, str]] = {}
        #: Per room, the highest seq up to which this client has everything since it
        #: first saw the room, and the seqs it holds above a gap.
        self.contig: dict[str, int] = {}
        self.ahead: dict[str, set[int]] = {}
        self.warm: set[str] = set()
        #: Reconnect storm: when the client was back (resumed in hello, rejoined), what it
        #: held when the storm was armed, and each later advance of `contig` as
        #: (room, contig, ns), so catch-up times can be computed once targets are known.
        self.ready_ns = 0
        #: When the attempt that brought it back started (before: backoff; after:
        #: the server's handshake, hello and rejoin).
        self.attempt_ns = 0
        self.contig_at_arm: dict[str, int] = {}
        self.timeline: list[tuple[str, int, int]] | None = None
        self.reconnecting = False

    # -- Sink ----------------------------------------------------------------------------
    def on_message(self, room: str, seq: int, text: str) -> None:
        w = self.worker
        stats = w.stats
        if room not in self.spec.rooms:
            # chatd delivers a room to every connection of a member *user*; a user
            # whose other connections joined other rooms gets those too. Counted
            # apart so they neither inflate deliveries nor hide a loss.
            stats.foreign += 1
            return
        if not self._track_seq(room, seq):
            stats.duplicates += 1
            return
        stamp = payload.decode(text)
        if stamp is not None and stamp.conn != self.spec.conn_id:
            if stamp.phase == w.phase:
                now = time.time_ns()
                stats.received += 1
                stats.latency.record_ns(now - stamp.send_ns)
                stats.latency_sched.record_ns(now - stamp.send_ns + stamp.lag_us * 1000)
                if not stats.first_recv_ns:
                    stats.first_recv_ns = now
                stats.last_recv_ns = now
            elif stamp.phase == payload.WARM_PHASE:
                self.warm.add(room)
            else:
                stats.late += 1

    def on_ack(self, ref: int, seq: int | None) -> None:
        entry = self.pending.pop(ref, None)
        if entry is None:
            return
        room, sent_ns, _ = entry
        w = self.worker
        w.stats.acked += 1
        w.stats.ack_latency.record_ns(time.time_ns() - sent_ns)
        if isinstance(seq, int) and seq > w.max_acked.get(room, 0):
            w.max_acked[room] = seq

    def on_error(self, ref: int | None, code: str) -> None:
        stats = self.worker.stats
        stats.errors[code] += 1
        if ref is not None:
            entry = self.pending.pop(ref, None)
            if entry is not None:
                stats.rejected_by_room[entry[0]] += 1

    # -- seq bookkeeping -----------------------------------------------------------------
    def _track_seq(self, room: str, seq: int) -> bool:
        """Record `seq`; False when it was already held (a duplicate or a replayed one)."""
        c = self.contig.get(room)
        if c is None:
            self.contig[room] = seq
            return True
        if seq == c + 1:
            ahead = self.ahead.get(room)
            c = seq
            if ahead:
                while c + 1 in ahead:
                    c += 1
                    ahead.discard(c)
            self.contig[room] = c
            if self.timeline is not None:
                self.timeline.append((room, c, time.time_ns()))
            return True
        if seq <= c:
            return False
        ahead = self.ahead.setdefault(room, set())
        if seq in ahead:
            return False
        ahead.add(seq)
        return True

    def gaps(self, targets: dict[str, int] | None = None) -> int:
        """Seqs missing below the highest held one (or below the room's target)."""
        missing = 0
        for room, c in self.contig.items():
            ahead = self.ahead.get(room) or set()
            top = max(ahead) if ahead else c
            if targets is not None and room in targets:
                top = max(top, targets[room])
            missing += max(0, top - c - len([s for s in ahead if s <= top]))
        return missing

    def caught_up_ns(self, targets: dict[str, int]) -> int | None:
        """When, after reconnecting, this client first held every seq up to the targets."""
        if not self.ready_ns:
            return None
        when = self.ready_ns
        for room in self.spec.rooms:
            t = targets.get(room)
            if t is None or self.contig_at_arm.get(room, 0) >= t:
                continue
            reached = next((ns for r, c, ns in self.timeline or () if r == room and c >= t),
                           None)
            if reached is None:
                return None
            when = max(when, reached)
        return when


class Worker:
    def __init__(self, pipe: Connection, index: int) -> None:
        self.pipe = pipe
        self.index = index
        self.wire: Wire | None = None
        self.node_urls: list[str] = []
        self.clients: list[Client] = []
        self.by_id: dict[int, Client] = {}
        self.sessions: dict[str | None, aiohttp.ClientSession] = {}
        self.connect_concurrency = 64
        self.handshake_timeout = 15.0
        self.nonce_prefix = ""
        self.phase = ""
        self.stats = PhaseStats("")
        self.max_acked: dict[str, int] = {}
        self.reconnect: ArmReconnect | None = None
        self.reconnect_attempts = 0
        self.reconnect_errors: dict[str, int] = defaultdict(int)
        self.acked_at_kill: dict[str, int] | None = None
        self.closing = False
        self.background: set[asyncio.Task[Any]] = set()

    # -- command loop --------------------------------------------------------------------
    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            cmd = await loop.run_in_executor(None, self.pipe.recv)
            try:
                reply = await self.handle(cmd)
            except Exception as exc:  # report, don't die: the coordinator decides
                reply = exc
            self.pipe.send(reply)
            if isinstance(cmd, Close):
                return

    async def handle(self, cmd: object) -> object:
        match cmd:
            case Setup():
                self.wire = WIRES[cmd.wire]()
                self.node_urls = cmd.node_urls
                self.connect_concurrency = cmd.connect_concurrency
                self.handshake_timeout = cmd.handshake_timeout
                self.nonce_prefix = cmd.nonce_prefix
                fresh = [Client(spec, self) for spec in cmd.conns]
                self.clients = [*self.clients, *fresh] if cmd.append else fresh
                self.by_id = {c.spec.conn_id: c for c in self.clients}
                return len(self.clients)
            case Connect():
                return await self.connect_all()
            case Join():
                return await self.join_all()
            case WarmSend():
                for conn_id, room in cmd.pairs:
                    await self.send_message(self.by_id[conn_id], room, payload.WARM_PHASE,
                                            0, 0, count=False)
                return len(cmd.pairs)
            case WarmStatus():
                seen: dict[str, int] = defaultdict(int)
                for c in self.clients:
                    for room in c.warm:
                        seen[room] += 1
                return dict(seen)
            case PhaseStart():
                return await self.run_phase(cmd)
            case PhaseProgress():
                s = self.stats
                away = 0 if self.reconnect is None else sum(
                    1 for c in self.clients if c.reconnecting or c.ws is None or c.ws.closed)
                return Progress(s.received, s.acked, dict(s.rejected_by_room),
                                sum(len(c.pending) for c in self.clients), s.last_recv_ns,
                                away)
            case PhaseCollect():
                return self.collect()
            case Snapshot():
                max_contig: dict[str, int] = {}
                for c in self.clients:
                    for room, seq in c.contig.items():
                        max_contig[room] = max(max_contig.get(room, 0), seq)
                return SnapshotReport(self.open_count(), dict(self.max_acked), max_contig)
            case ArmReconnect():
                self.reconnect = cmd
                self.acked_at_kill = None
                for c in self.clients:
                    c.ready_ns = 0
                    c.contig_at_arm = dict(c.contig)
                    c.timeline = []
                return True
            case KillAcks():
                return dict(self.acked_at_kill or {})
            case StormStatus():
                return self.storm_report(cmd.targets)
            case Close():
                await self.close_all()
                return True
        raise ValueError(f"unknown command {cmd!r}")

    # -- connections ---------------------------------------------------------------------
    def session_for(self, source_ip: str | None) -> aiohttp.ClientSession:
        session = self.sessions.get(source_ip)
        if session is None:
            connector = aiohttp.TCPConnector(
                limit=0,
                local_addr=(source_ip, 0) if source_ip else None,
                force_close=True,
            )
            session = aiohttp.ClientSession(connector=connector)
            self.sessions[source_ip] = session
        return session

    async def open(self, c: Client, resume: dict[str, int] | None = None) -> None:
        assert self.wire is not None
        url = self.node_urls[c.spec.node] + self.wire.ws_path()
        session = self.session_for(c.spec.source_ip)
        async with asyncio.timeout(self.handshake_timeout):
            ws = await session.ws_connect(url, autoping=True, compress=0, max_msg_size=MAX_FRAME)
            try:
                await self.wire.handshake(ws, c.spec.token, self.handshake_timeout, resume)
            except BaseException:
                await ws.close()
                raise
        c.ws = ws
        c.reader = asyncio.create_task(self.read(c))

    async def connect_all(self) -> ConnectReport:
        started = time.monotonic()
        sem = asyncio.Semaphore(self.connect_concurrency)
        errors: dict[str, int] = defaultdict(int)

        async def one(c: Client) -> bool:
            async with sem:
                for attempt in range(3):
                    try:
                        await self.open(c)
                        return True
                    except Exception as exc:
                        key = f"{type(exc).__name__}: {str(exc)[:160]}"
                        errors[key] += 1
                        await asyncio.sleep(0.2 * (attempt + 1))
                return False

        todo = [c for c in self.clients if c.ws is None or c.ws.closed]
        results = await asyncio.gather(*(one(c) for c in todo))
        opened = sum(results)
        # Thousands of long-lived client objects would make every full collection
        # walk them, a pause charged to whichever deliveries arrive meanwhile; move
        # them out of the collector's sight once they exist.
        gc.collect()
        gc.freeze()
        return ConnectReport(opened, len(todo) - opened, dict(errors),
                             time.monotonic() - started)

    async def join_all(self) -> int:
        assert self.wire is not None
        sent = 0
        for c in self.clients:
            if c.ws is None or c.ws.closed:
                continue
            for room in c.spec.rooms:
                await c.ws.send_str(self.wire.join_frame(room))
                sent += 1
        return sent

    async def read(self, c: Client) -> None:
        assert self.wire is not None and c.ws is not None
        ws = c.ws
        parse = self.wire.parse
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    reply = parse(msg.data, c)
                    if reply is not None:
                        if reply is CLOSE:
                            goodbye = self.wire.goodbye_frame()
                            if goodbye is not None:
                                await ws.send_str(goodbye)
                            # Finish the close handshake in the background: a client
                            # told to go away reconnects now, not after the handshake.
                            self.spawn(ws.close())
                            break
                        await ws.send_str(reply)
                elif msg.type in (WSMsgType.ERROR, WSMsgType.CLOSE):
                    break
        except (aiohttp.ClientError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            if not self.closing:
                self.stats.closed += 1
                if self.reconnect is not None and self.acked_at_kill is None:
                    # The first close after arming marks the kill: what was acked by
                    # now was stored before the node went down.
                    self.acked_at_kill = dict(self.max_acked)
                if self.reconnect is not None and not c.reconnecting:
                    self.spawn(self.reconnect_client(c))

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(coro)
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    async def reconnect_client(self, c: Client) -> None:
        """Reconnect like a real client would: jittered exponential backoff, resuming
        (in the handshake) from the highest contiguous seq held per room, then rejoin."""
        assert self.reconnect is not None and self.wire is not None
        c.reconnecting = True
        delay = self.reconnect.backoff_min_s
        resumes = self.wire.supports_resume
        try:
            while not self.closing:
                await asyncio.sleep(random.uniform(0, delay))
                self.reconnect_attempts += 1
                c.attempt_ns = time.time_ns()
                resume = ({room: c.contig[room] for room in c.spec.rooms if room in c.contig}
                          if resumes else None)
                try:
                    await self.open(c, resume)
                    break
                except Exception as exc:
                    self.reconnect_errors[type(exc).__name__] += 1
                    delay = min(delay * 2, self.reconnect.backoff_max_s)
            else:
                return
            assert c.ws is not None
            for room in c.spec.rooms:
                await c.ws.send_str(self.wire.join_frame(room))
            if resumes:
                # Unacked messages may or may not have been stored before the node went
                # down; a contract client retries them with the same nonce and the server
                # stores each once. (Not done for the peer: it has no nonce dedupe.)
                for _, _, frame in list(c.pending.values()):
                    await c.ws.send_str(frame)
            else:
                # Never to be acked: the old connection took them down with it.
                # Their deliveries stay expected, and so count as lost.
                c.pending.clear()
            c.ready_ns = time.time_ns()
        finally:
            c.reconnecting = False

    def open_count(self) -> int:
        return sum(1 for c in self.clients if c.ws is not None and not c.ws.closed)

    async def close_all(self) -> None:
        self.closing = True
        for t in list(self.background):
            t.cancel()
        for c in self.clients:
            if c.ws is not None and not c.ws.closed:
                with contextlib.suppress(TimeoutError, aiohttp.ClientError, ConnectionError):
                    await asyncio.wait_for(c.ws.close(), 2)
            if c.reader is not None:
                c.reader.cancel()
        for s in self.sessions.values():
            await s.close()

    # -- sending -------------------------------------------------------------------------
    async def send_message(self, c: Client, room: str, phase: str, lag_us: int,
                           size: int, *, count: bool = True) -> None:
        assert self.wire is not None
        stats = self.stats
        ws = c.ws
        if ws is None or ws.closed:
            if count:
                stats.send_failed += 1
            return
        c.n += 1
        ref = c.n
        now = time.time_ns()
        text = payload.encode(phase, c.spec.conn_id, ref, now, lag_us, size)
        frame = self.wire.message_frame(room, text, ref,
                                        f"{self.nonce_prefix}{c.spec.conn_id}.{ref}")
        if count:
            c.pending[ref] = (room, now, frame)
        try:
            await ws.send_str(frame)
        except (aiohttp.ClientError, ConnectionError, RuntimeError):
            c.pending.pop(ref, None)
            if count:
                stats.send_failed += 1
            return
        if count:
            stats.sent_by_room[room] += 1

    async def run_phase(self, cmd: PhaseStart) -> SendReport:
        # Unacked refs from an earlier phase would be charged to this one; drop them.
        for c in self.clients:
            c.pending.clear()
        self.phase = cmd.phase
        self.stats = stats = PhaseStats(cmd.phase)
        senders = [c for c in self.clients if c.spec.sender]
        t_end = cmd.t0_ns + int(cmd.duration_s * 1e9)
        now = time.time_ns()
        if now < cmd.t0_ns:
            await asyncio.sleep((cmd.t0_ns - now) / 1e9)
        stats.send_start_ns = time.time_ns()
        if cmd.rate > 0 and senders:
            interval = 1e9 / cmd.rate
            n_senders = len(senders)
            k = 0
            while True:
                intended = cmd.t0_ns + int(k * interval)
                if intended >= t_end:
                    break
                now = time.time_ns()
                if intended > now:
                    await asyncio.sleep((intended - now) / 1e9)
                    now = time.time_ns()
                stats.send_lag.record_ns(now - intended)
                c = senders[k % n_senders]
                rooms = c.spec.rooms
                room = rooms[(k // n_senders) % len(rooms)]
                await self.send_message(c, room, cmd.phase, (now - intended) // 1000,
                                        cmd.message_bytes)
                k += 1
        else:
            now = time.time_ns()
            if now < t_end:
                await asyncio.sleep((t_end - now) / 1e9)
        stats.send_end_ns = time.time_ns()
        return SendReport(dict(stats.sent_by_room), stats.send_failed,
                          stats.send_start_ns, stats.send_end_ns)

    def collect(self) -> PhaseReport:
        s = self.stats
        report = PhaseReport(
            phase=s.phase,
            sent_by_room=dict(s.sent_by_room),
            rejected_by_room=dict(s.rejected_by_room),
            send_failed=s.send_failed,
            acked=s.acked,
            received=s.received,
            duplicates=s.duplicates,
            foreign=s.foreign,
            late=s.late,
            errors=dict(s.errors),
            latency=s.latency.encode(),
            latency_sched=s.latency_sched.encode(),
            ack_latency=s.ack_latency.encode(),
            send_lag=s.send_lag.encode(),
            first_recv_ns=s.first_recv_ns,
            last_recv_ns=s.last_recv_ns,
            send_start_ns=s.send_start_ns,
            send_end_ns=s.send_end_ns,
            cpu_s=_cpu_seconds() - s.ru_start,
            wall_s=time.monotonic() - s.wall_start,
            closed=s.closed,
            seq_gaps=sum(c.gaps() for c in self.clients),
        )
        # Late arrivals now count as `late` in whatever phase comes next.
        self.phase = ""
        return report

    def storm_report(self, targets: dict[str, int] | None) -> StormReport:
        reconnected = [c for c in self.clients if c.ready_ns]
        caught: list[int] = []
        missing = 0
        if targets is not None:
            for c in self.clients:
                ns = c.caught_up_ns(targets)
                if ns is None:
                    missing += c.gaps({r: t for r, t in targets.items() if r in c.spec.rooms})
                else:
                    caught.append(ns)
        return StormReport(
            clients=len(self.clients),
            reconnected=len(reconnected),
            caught_up=len(caught),
            last_ready_ns=max((c.ready_ns for c in reconnected), default=0),
            last_caught_ns=max(caught, default=0),
            missing=missing,
            reconnect_attempts=self.reconnect_attempts,
            errors=dict(self.reconnect_errors),
            ready_ns=[c.ready_ns for c in reconnected],
            attempt_ns=[c.attempt_ns for c in reconnected],
        )


def worker_main(pipe: Connection, index: int) -> None:
    """Process entry point (multiprocessing 'spawn' target)."""
    raise_nofile_limit()
    with asyncio.Runner(loop_factory=UVLOOP) as runner:
        runner.run(Worker(pipe, index).serve())
