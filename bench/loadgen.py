"""The load generator as the coordinator sees it: N worker processes, one API.

Clients are dealt round-robin over the workers, so with two or more processes
every room has members in each of them; that is what makes "results do not change
with two generator processes" a real check. Histograms come back HDR-encoded and
are merged losslessly; counts are summed. Loss is computed here, where the room
layout is known: expected deliveries = sum over rooms of (sent - rejected) x
(members - 1), since a sender does not count its own echo.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing as mp
import secrets
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

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
from bench.worker import worker_main


class GeneratorError(Exception):
    pass


@dataclass(slots=True)
class Layout:
    """Who connects to which node, in which rooms; `members` maps room -> conn ids."""

    conns: list[ConnSpec]
    members: dict[str, list[int]]


def room_layout(
    *,
    prefix: str,
    conns: int,
    room_size: int,
    nodes: int,
    token_for: Callable[[int], str],
    senders_per_room: int | None = None,
    source_ips: Sequence[str] = (),
    first_id: int = 0,
) -> Layout:
    """`conns` clients in rooms of `room_size` (the last room may be smaller).

    Consecutive clients share a room and alternate between nodes, so with two nodes
    every room spans both and every delivery can cross the broker. `token_for(i)`
    picks the user; the pool deals users so members of one room are distinct users
    whenever the pool is at least as large as a room.
    """
    specs: list[ConnSpec] = []
    members: dict[str, list[int]] = defaultdict(list)
    for i in range(first_id, first_id + conns):
        room = f"{prefix}-{i // room_size}"
        pos = i % room_size
        sender = senders_per_room is None or pos < senders_per_room
        ip = source_ips[i % len(source_ips)] if source_ips else None
        specs.append(ConnSpec(i, token_for(i), i % nodes, (room,), sender, ip))
        members[room].append(i)
    return Layout(specs, dict(members))


@dataclass(slots=True)
class PhaseResult:
    name: str
    offered_rate: float
    duration_s: float
    sent: int
    rejected: int
    send_failed: int
    acked: int
    expected: int
    received: int
    duplicates: int
    #: Deliveries for rooms the receiving connection never joined (see worker).
    foreign: int
    late: int
    errors: dict[str, int]
    #: Delivery latency from the actual send; and from the timetable's intended time.
    latency: LatencyHistogram
    latency_sched: LatencyHistogram
    ack_latency: LatencyHistogram
    send_lag: LatencyHistogram
    window_s: float
    drain_s: float
    generator_cpu_s: float
    #: Busiest generator process's CPU time / wall time (1.0 = one core saturated).
    generator_max_util: float
    closed: int
    seq_gaps: int
    processes: int
    server: dict[str, Any] = field(default_factory=dict)

    @property
    def lost(self) -> int:
        return max(0, self.expected - self.received)

    @property
    def excess(self) -> int:
        """Deliveries beyond the expected ones (should be 0: a count to look into)."""
        return max(0, self.received - self.expected)

    @property
    def deliveries_per_s(self) -> float:
        return self.received / self.window_s if self.window_s > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "offered_msgs_per_s": self.offered_rate,
            "duration_s": self.duration_s,
            "sent": self.sent,
            "rejected": self.rejected,
            "send_failed": self.send_failed,
            "acked": self.acked,
            "expected_deliveries": self.expected,
            "received": self.received,
            "lost": self.lost,
            "excess": self.excess,
            "duplicates": self.duplicates,
            "foreign_room_deliveries": self.foreign,
            "late_from_earlier_phase": self.late,
            "errors": self.errors,
            "deliveries_per_s": round(self.deliveries_per_s, 1),
            "delivery_window_s": round(self.window_s, 3),
            "drain_s": round(self.drain_s, 3),
            "latency_ms": self.latency.summary_ms(),
            "latency_from_schedule_ms": self.latency_sched.summary_ms(),
            "ack_latency_ms": self.ack_latency.summary_ms(),
            "send_lag_ms": self.send_lag.summary_ms(),
            "seq_gaps": self.seq_gaps,
            "closed_connections": self.closed,
            "generator": {
                "processes": self.processes,
                "cpu_s": round(self.generator_cpu_s, 3),
                "max_process_util": round(self.generator_max_util, 3),
            },
            "server": self.server,
        }


class LoadGen:
    def __init__(self, processes: int) -> None:
        self.processes = max(1, processes)
        self._pipes: list[Connection] = []
        self._procs: list[BaseProcess] = []
        self._locks: list[asyncio.Lock] = []
        self.layout: Layout | None = None
        self._owner: dict[int, int] = {}
        self._senders_per_worker: list[int] = [0] * self.processes

    # -- process plumbing ----------------------------------------------------------------
    async def __aenter__(self) -> LoadGen:
        ctx = mp.get_context("spawn")
        for i in range(self.processes):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=worker_main, args=(child, i), name=f"bench-gen-{i}",
                               daemon=True)
            proc.start()
            child.close()
            self._pipes.append(parent)
            self._procs.append(proc)
            self._locks.append(asyncio.Lock())
        return self

    async def __aexit__(self, *exc: object) -> None:
        with contextlib.suppress(TimeoutError, GeneratorError, OSError, EOFError):
            await asyncio.wait_for(self.broadcast(Close()), 20)
        for proc in self._procs:
            proc.join(5)
            if proc.is_alive():
                proc.kill()
                proc.join(2)

    async def call(self, i: int, cmd: object) -> Any:
        loop = asyncio.get_running_loop()
        async with self._locks[i]:
            self._pipes[i].send(cmd)
            try:
                reply = await loop.run_in_executor(None, self._pipes[i].recv)
            except (EOFError, OSError) as exc:
                raise GeneratorError(f"generator process {i} died") from exc
        if isinstance(reply, Exception):
            raise GeneratorError(f"generator {i}: {type(reply).__name__}: {reply}") from reply
        return reply

    async def broadcast(self, cmd: object | Sequence[object]) -> list[Any]:
        cmds = cmd if isinstance(cmd, list) else [cmd] * self.processes
        return list(await asyncio.gather(*(self.call(i, c) for i, c in enumerate(cmds))))

    # -- setup ---------------------------------------------------------------------------
    async def setup(self, wire: str, node_urls: list[str], layout: Layout, *,
                    connect_concurrency: int = 64, append: bool = False) -> None:
        """Deal `layout`'s clients to the workers; with `append`, add to the current ones
        (conn ids must be new)."""
        if append and self.layout is not None:
            members = {r: list(ids) for r, ids in self.layout.members.items()}
            for room, ids in layout.members.items():
                members.setdefault(room, []).extend(ids)
            self.layout = Layout([*self.layout.conns, *layout.conns], members)
        else:
            self.layout = layout
            self._owner = {}
            self._senders_per_worker = [0] * self.processes
        shares: list[list[ConnSpec]] = [[] for _ in range(self.processes)]
        for spec in layout.conns:
            w = spec.conn_id % self.processes
            shares[w].append(spec)
            self._owner[spec.conn_id] = w
            if spec.sender:
                self._senders_per_worker[w] += 1
        per_proc = max(1, connect_concurrency // self.processes)
        prefix = secrets.token_hex(4) + "."
        await self.broadcast([Setup(wire, node_urls, share, per_proc, append=append,
                                    nonce_prefix=prefix) for share in shares])

    async def connect(self) -> dict[str, Any]:
        started = time.monotonic()
        reports: list[ConnectReport] = await self.broadcast(Connect())
        errors: dict[str, int] = defaultdict(int)
        for r in reports:
            for k, v in r.errors.items():
                errors[k] += v
        return {
            "opened": sum(r.opened for r in reports),
            "failed": sum(r.failed for r in reports),
            "seconds": round(time.monotonic() - started, 3),
            "errors": dict(errors),
        }

    async def join(self) -> int:
        return sum(await self.broadcast(Join()))

    async def warm(self, timeout_s: float) -> dict[str, Any]:
        """Barrier: every member of every room has received a message from someone else.

        A `join` may take effect asynchronously (a broker subscription, say); measuring
        before that would charge the server with losses that are really set-up time.
        Warm-up messages are re-sent every second for rooms not yet complete.
        """
        assert self.layout is not None
        members = self.layout.members
        pending = {room for room, ids in members.items() if len(ids) > 1}
        started = time.monotonic()
        rounds = 0
        while pending and time.monotonic() - started < timeout_s:
            pairs: list[list[tuple[int, str]]] = [[] for _ in range(self.processes)]
            for room in pending:
                sender = members[room][0]
                pairs[self._owner[sender]].append((sender, room))
            await self.broadcast([WarmSend(p) for p in pairs])
            rounds += 1
            round_end = time.monotonic() + 1.0
            while time.monotonic() < round_end:
                await asyncio.sleep(0.05)
                seen: dict[str, int] = defaultdict(int)
                for status in await self.broadcast(WarmStatus()):
                    for room, n in status.items():
                        seen[room] += n
                pending = {r for r in pending if seen.get(r, 0) < len(members[r]) - 1}
                if not pending:
                    break
        return {"ok": not pending, "rooms_incomplete": len(pending), "rounds": rounds,
                "seconds": round(time.monotonic() - started, 3)}

    # -- measurement ---------------------------------------------------------------------
    def _expected(self, sent: dict[str, int], rejected: dict[str, int]) -> int:
        assert self.layout is not None
        members = self.layout.members
        return sum((n - rejected.get(room, 0)) * (len(members[room]) - 1)
                   for room, n in sent.items())

    async def phase(self, name: str, rate: float, duration_s: float, *, message_bytes: int,
                    drain_max_s: float = 30.0, stall_s: float = 3.0) -> PhaseResult:
        """Offer `rate` messages/s for `duration_s`, then drain until every expected
        delivery arrived, nothing arrived for `stall_s` while no client was away
        reconnecting and no message waited for its ack, or `drain_max_s` passed.

        A message not yet acked is one the server has not answered: still at work
        (after a reconnect storm it was seconds behind), not lost; the drain waits
        for it, up to `drain_max_s`."""
        total_senders = sum(self._senders_per_worker)
        t0 = time.time_ns() + 300_000_000  # time for every worker to get the command
        cmds = [PhaseStart(name, rate * s / total_senders if total_senders else 0.0, t0,
                           duration_s, message_bytes) for s in self._senders_per_worker]
        sends: list[SendReport] = await self.broadcast(cmds)
        sent: dict[str, int] = defaultdict(int)
        for s in sends:
            for room, n in s.sent_by_room.items():
                sent[room] += n

        drain_start = time.monotonic()
        last_received, last_change = -1, drain_start
        while True:
            progress: list[Progress] = await self.broadcast(PhaseProgress())
            received = sum(p.received for p in progress)
            rejected: dict[str, int] = defaultdict(int)
            for p in progress:
                for room, n in p.rejected_by_room.items():
                    rejected[room] += n
            pending = sum(p.pending_acks for p in progress)
            away = sum(p.away for p in progress)
            now = time.monotonic()
            if received >= self._expected(sent, rejected) and pending == 0 and not away:
                break
            if received != last_received or away or pending:
                last_received, last_change = received, now
            if now - last_change > stall_s or now - drain_start > drain_max_s:
                break
            await asyncio.sleep(0.05)
        drain_s = time.monotonic() - drain_start

        reports: list[PhaseReport] = await self.broadcast(PhaseCollect())
        return self._merge(name, rate, duration_s, reports, drain_s)

    def _merge(self, name: str, rate: float, duration_s: float, reports: list[PhaseReport],
               drain_s: float) -> PhaseResult:
        sent: dict[str, int] = defaultdict(int)
        rejected: dict[str, int] = defaultdict(int)
        errors: dict[str, int] = defaultdict(int)
        latency, latency_sched = LatencyHistogram(), LatencyHistogram()
        ack_latency, send_lag = LatencyHistogram(), LatencyHistogram()
        for r in reports:
            for room, n in r.sent_by_room.items():
                sent[room] += n
            for room, n in r.rejected_by_room.items():
                rejected[room] += n
            for code, n in r.errors.items():
                errors[code] += n
            latency.merge(LatencyHistogram.decode(r.latency))
            latency_sched.merge(LatencyHistogram.decode(r.latency_sched))
            ack_latency.merge(LatencyHistogram.decode(r.ack_latency))
            send_lag.merge(LatencyHistogram.decode(r.send_lag))
        start_ns = min((r.send_start_ns for r in reports if r.send_start_ns), default=0)
        last_ns = max((r.last_recv_ns for r in reports), default=0)
        window = (last_ns - start_ns) / 1e9 if last_ns and start_ns else 0.0
        return PhaseResult(
            name=name,
            offered_rate=rate,
            duration_s=duration_s,
            sent=sum(sent.values()),
            rejected=sum(rejected.values()),
            send_failed=sum(r.send_failed for r in reports),
            acked=sum(r.acked for r in reports),
            expected=self._expected(sent, rejected),
            received=sum(r.received for r in reports),
            duplicates=sum(r.duplicates for r in reports),
            foreign=sum(r.foreign for r in reports),
            late=sum(r.late for r in reports),
            errors=dict(errors),
            latency=latency,
            latency_sched=latency_sched,
            ack_latency=ack_latency,
            send_lag=send_lag,
            window_s=window,
            drain_s=drain_s,
            generator_cpu_s=sum(r.cpu_s for r in reports),
            generator_max_util=max((r.cpu_s / r.wall_s for r in reports if r.wall_s > 0),
                                   default=0.0),
            closed=sum(r.closed for r in reports),
            seq_gaps=sum(r.seq_gaps for r in reports),
            processes=self.processes,
        )

    # -- reconnect storm -----------------------------------------------------------------
    async def snapshot(self) -> SnapshotReport:
        reports: list[SnapshotReport] = await self.broadcast(Snapshot())
        max_acked: dict[str, int] = {}
        max_contig: dict[str, int] = {}
        for r in reports:
            for room, seq in r.max_acked.items():
                max_acked[room] = max(max_acked.get(room, 0), seq)
            for room, seq in r.max_contig.items():
                max_contig[room] = max(max_contig.get(room, 0), seq)
        return SnapshotReport(sum(r.open for r in reports), max_acked, max_contig)

    async def arm_reconnect(self, backoff_min_s: float, backoff_max_s: float) -> None:
        await self.broadcast(ArmReconnect(backoff_min_s, backoff_max_s))

    async def kill_acks(self) -> dict[str, int]:
        merged: dict[str, int] = {}
        for acks in await self.broadcast(KillAcks()):
            for room, seq in acks.items():
                merged[room] = max(merged.get(room, 0), seq)
        return merged

    async def storm_status(self, targets: dict[str, int] | None = None) -> StormReport:
        reports: list[StormReport] = await self.broadcast(StormStatus(targets))
        errors: dict[str, int] = defaultdict(int)
        for r in reports:
            for k, v in r.errors.items():
                errors[k] += v
        return StormReport(
            clients=sum(r.clients for r in reports),
            reconnected=sum(r.reconnected for r in reports),
            caught_up=sum(r.caught_up for r in reports),
            last_ready_ns=max(r.last_ready_ns for r in reports),
            last_caught_ns=max(r.last_caught_ns for r in reports),
            missing=sum(r.missing for r in reports),
            reconnect_attempts=sum(r.reconnect_attempts for r in reports),
            errors=dict(errors),
            ready_ns=[ns for r in reports for ns in r.ready_ns],
            attempt_ns=[ns for r in reports for ns in r.attempt_ns],
        )
