"""Scenario 4: idle capacity, the server's RSS growth per idle authenticated connection.

Clients are added in steps (5k, 10k, 20k at full size); each is authenticated
(chatd: hello/ready; peer: Socket.IO connect with the JWT) and then says nothing.
After each step settles, RSS is sampled: growth over the baseline (taken after
user registration, before any WebSocket) divided by the connections, and the
marginal cost between steps. Above ~28k connections one source address runs out
of ephemeral ports, so clients are spread over several 127.0.0.x addresses.
"""

from __future__ import annotations

import asyncio
import math
import resource
from typing import Any

from bench.loadgen import LoadGen, room_layout
from bench.scenarios.common import MIB, ScenarioContext, ScenarioError, tokens_for
from bench.targets import Target

NUMBER = 4
TITLE = "Idle capacity: RSS per connection"
KIB = 1024
#: Descriptors a process needs besides its sockets (listeners, logs, Redis, SQLite).
FD_RESERVE = 256


async def run(ctx: ScenarioContext, target: Target) -> dict[str, Any]:
    sz = ctx.sizes
    # The server holds one descriptor per connection and cannot raise its hard limit
    # without CAP_SYS_RESOURCE; a step it cannot hold is capped, and the cap is
    # recorded next to the result instead of silently changing what was measured.
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    ceiling = nofile - FD_RESERVE
    counts = sorted({min(n, ceiling) for n in sz.s4_steps})
    ips = [f"127.0.0.{k + 1}" for k in range(sz.s4_source_ips)] if sz.s4_source_ips > 1 else []
    info: dict[str, Any] = {"params": {"steps": list(sz.s4_steps), "settle_s": sz.s4_settle_s,
                                       "source_ips": ips or ["(default)"]}}
    if counts != sorted(set(sz.s4_steps)):
        info["capped"] = (f"steps capped at {ceiling} connections: the open-file limit here "
                          f"is {nofile} per process (raise `ulimit -n` to run the full steps)")
        ctx.log(f"  {info['capped']}")
    # Generator processes have the same limit, so spread the clients over enough of them.
    processes = max(ctx.generators, math.ceil(counts[-1] / ceiling))
    steps: list[dict[str, Any]] = []
    await target.start(1)
    try:
        token_for, info["users"] = await tokens_for(ctx, target, counts[-1], NUMBER)
        await asyncio.sleep(sz.s4_settle_s)
        base = target.usage()
        info["baseline_rss_mb"] = round(base.rss_bytes / MIB, 1)
        ctx.log(f"  baseline RSS {info['baseline_rss_mb']} MiB")
        async with LoadGen(processes) as gen:
            have, prev_rss = 0, base.rss_bytes
            for n in counts:
                layout = room_layout(prefix=f"s4{ctx.run_tag}", conns=n - have, room_size=1,
                                     nodes=1, token_for=token_for, senders_per_room=0,
                                     source_ips=ips, first_id=have)
                await gen.setup(target.wire, target.ws_urls(), layout, append=have > 0,
                                connect_concurrency=sz.connect_concurrency)
                conn = await gen.connect()
                if conn["failed"]:
                    raise ScenarioError(f"at {n} connections, {conn['failed']} could not "
                                        f"connect: {conn['errors']}")
                cpu_before = target.usage().cpu_s
                await asyncio.sleep(sz.s4_settle_s)
                snap = await gen.snapshot()
                u = target.usage()
                growth = u.rss_bytes - base.rss_bytes
                step = {
                    "connections": n,
                    "open": snap.open,
                    "connect_s": conn["seconds"],
                    "rss_mb": round(u.rss_bytes / MIB, 1),
                    "rss_per_conn_kib": round(growth / n / KIB, 2),
                    "marginal_per_conn_kib": round((u.rss_bytes - prev_rss) / (n - have) / KIB, 2),
                    "idle_cpu_pct": round((u.cpu_s - cpu_before) / sz.s4_settle_s * 100, 2),
                }
                steps.append(step)
                ctx.log(f"  {n} idle connections ({snap.open} open): RSS {step['rss_mb']} MiB, "
                        f"{step['rss_per_conn_kib']} KiB/conn over baseline, marginal "
                        f"{step['marginal_per_conn_kib']} KiB/conn, idle CPU "
                        f"{step['idle_cpu_pct']}%")
                have, prev_rss = n, u.rss_bytes
    finally:
        info["steps"] = steps
        await target.stop()
    last = steps[-1]
    info["summary"] = {"connections": last["connections"],
                       "rss_per_conn_kib": last["rss_per_conn_kib"],
                       "marginal_per_conn_kib": last["marginal_per_conn_kib"],
                       "server_rss_mb": last["rss_mb"]}
    return info
