"""What every scenario shares: context, a connected generator, a measured phase."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from bench.config import Sizes
from bench.loadgen import Layout, LoadGen, PhaseResult
from bench.procs import ManagedProcess
from bench.targets import Target

MIB = 2**20


class ScenarioError(Exception):
    """The scenario could not produce a valid measurement (reported, not raised further)."""


@dataclass(slots=True)
class ScenarioContext:
    sizes: Sizes
    generators: int
    redis: ManagedProcess
    #: Short tag in room names so no two scenarios or runs share a room.
    run_tag: str
    log: Callable[[str], None]
    repo_root: Any = None
    notes: list[str] = field(default_factory=list)


async def tokens_for(ctx: ScenarioContext, target: Target, clients: int, scenario: int) -> tuple[
        Callable[[int], str], dict[str, object]]:
    """A token per client index: client i is user i while the pool lasts.

    Every scenario run has users of its own (see Target.tokens).

    chatd's room membership belongs to the user, so every connection of a user gets
    every room the user is in. With one user per client, a client receives its own
    room only, as with the peer. A pool smaller than the clients wraps around and
    users then sit in several rooms: the run still counts correctly (deliveries for
    rooms a client did not join are `foreign_room_deliveries`), but chatd does more
    work than the peer, so that is recorded as `users_shared`.
    """
    users = max(1, min(clients, ctx.sizes.pool_users))
    tokens, info = await target.tokens(users, f"{scenario}{ctx.run_tag}")
    info = {**info, "clients": clients, "users_shared": clients > users}
    ctx.log(f"  users: {info}")
    if clients > users:
        ctx.log(f"  note: {clients} clients share {users} users (raise pool_users to avoid)")
    return (lambda i: tokens[i % len(tokens)]), info


@asynccontextmanager
async def connected(ctx: ScenarioContext, target: Target, layout: Layout,
                    info: dict[str, Any]) -> AsyncIterator[LoadGen]:
    """Generator processes with every client of `layout` open, joined and warmed up.

    Any client that cannot connect, or a room that never sees its warm-up message,
    fails the scenario: with members missing, expected-delivery counts would be wrong.
    """
    async with LoadGen(ctx.generators) as gen:
        await gen.setup(target.wire, target.ws_urls(), layout,
                        connect_concurrency=ctx.sizes.connect_concurrency)
        conn = await gen.connect()
        ctx.log(f"  connected {conn['opened']}/{len(layout.conns)} in {conn['seconds']}s")
        info["connect"] = conn
        if conn["failed"]:
            raise ScenarioError(f"{conn['failed']} of {len(layout.conns)} clients could not "
                                f"connect; errors: {conn['errors']}")
        await gen.join()
        warm = await gen.warm(ctx.sizes.warm_timeout_s)
        info["warmup"] = warm
        if not warm["ok"]:
            raise ScenarioError(f"{warm['rooms_incomplete']} rooms never delivered a warm-up "
                                f"message to every member within "
                                f"{ctx.sizes.warm_timeout_s}s (join not effective?)")
        yield gen


async def measured_phase(ctx: ScenarioContext, gen: LoadGen, target: Target, name: str,
                         rate: float, duration_s: float, *, drain: bool = True) -> PhaseResult:
    """One open-loop phase with the server's CPU and RSS sampled around it."""
    before, redis_before = target.usage(), ctx.redis.usage()
    sz = ctx.sizes
    res = await gen.phase(name, rate, duration_s, message_bytes=sz.message_bytes,
                          drain_max_s=sz.drain_max_s if drain else 0.0, stall_s=sz.stall_s)
    after, redis_after = target.usage(), ctx.redis.usage()
    cpu = after.cpu_s - before.cpu_s
    res.server = {
        "cpu_s": round(cpu, 3),
        "cpu_s_per_million_deliveries": round(cpu / res.received * 1e6, 2)
        if res.received else None,
        "rss_mb_before": round(before.rss_bytes / MIB, 1),
        "rss_mb_after": round(after.rss_bytes / MIB, 1),
        "redis_cpu_s": round(redis_after.cpu_s - redis_before.cpu_s, 3),
    }
    ctx.log("  " + phase_line(res))
    return res


async def warmed_phase(ctx: ScenarioContext, gen: LoadGen, target: Target, name: str,
                       rate: float, duration_s: float, warmup_s: float,
                       ) -> tuple[PhaseResult, list[dict[str, Any]]]:
    """`warmup_s` at the same load (first-write and cache costs, fresh connections
    settling), then the measured phase. Both go in the results; only the measured
    one is the scenario's headline."""
    phases = []
    if warmup_s > 0:
        warm = await measured_phase(ctx, gen, target, f"{name}-warmup", rate, warmup_s)
        phases.append(warm.to_json())
    res = await measured_phase(ctx, gen, target, name, rate, duration_s)
    phases.append(res.to_json())
    return res, phases


def headline(res: PhaseResult) -> dict[str, Any]:
    """The figures every scenario prints (issue 9): deliveries/s, p50/p99/p99.9,
    lost, server CPU-s per million deliveries, server RSS."""
    lat = res.latency.summary_ms()
    return {
        "offered_msgs_per_s": res.offered_rate,
        "deliveries_per_s": round(res.deliveries_per_s, 1),
        "p50_ms": lat["p50"],
        "p99_ms": lat["p99"],
        "p999_ms": lat["p999"],
        # Same deliveries timed from the open-loop timetable (coordinated-omission safe).
        "p99_from_schedule_ms": res.latency_sched.summary_ms()["p99"],
        "lost": res.lost,
        "excess": res.excess,
        "cpu_s_per_million_deliveries": res.server.get("cpu_s_per_million_deliveries"),
        "server_rss_mb": res.server.get("rss_mb_after"),
        "generator_max_util": round(res.generator_max_util, 3),
    }


def phase_line(res: PhaseResult) -> str:
    h = headline(res)
    return (f"{res.name}: offered {res.offered_rate:g} msg/s -> "
            f"{h['deliveries_per_s']:,.0f} deliveries/s, p50 {h['p50_ms']} ms, "
            f"p99 {h['p99_ms']} ms (from schedule {h['p99_from_schedule_ms']}), "
            f"p99.9 {h['p999_ms']} ms, lost {h['lost']}"
            f"{', EXCESS ' + str(res.excess) if res.excess else ''}"
            f"{', foreign ' + str(res.foreign) if res.foreign else ''}"
            f"{' (rejected ' + str(res.rejected) + ')' if res.rejected else ''}, "
            f"server {h['cpu_s_per_million_deliveries']} CPU-s/M deliveries, "
            f"RSS {h['server_rss_mb']} MiB, generator busiest process "
            f"{h['generator_max_util']:.0%} of a core")
