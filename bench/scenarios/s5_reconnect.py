"""Scenario 5: reconnect storm. The node under all clients restarts; how long until
every client is back and holds every message, and was anything lost?

Timeline: a steady publishing phase (must lose nothing); then publishing continues
while, `s5_kill_after_s` into it, the node gets SIGTERM and is started again on the
same port and data. Clients reconnect with jittered exponential backoff (0.1 s
doubling to 2 s), resume in `hello` from the highest contiguous seq they hold, and
rejoin their rooms. Senders keep to the timetable; sends while disconnected fail and are
not expected. Measured:
- downtime: SIGTERM to /healthz answering again;
- all reconnected: until the last client was back (hello with resume/ready, join);
- all caught up: until the last client held every seq acked before the kill;
- lost: deliveries expected for every message the server accepted in the storm
  phase (live or replayed) minus those received, after draining.
The peer has no replay (Socket.IO has no resume), so its missed messages count as
lost; its seq comes from Redis here so it survives the restart.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import Any

from bench.loadgen import room_layout
from bench.protocol import WIRES
from bench.scenarios.common import (
    ScenarioContext,
    connected,
    headline,
    measured_phase,
    tokens_for,
)
from bench.targets import Target

NUMBER = 5
TITLE = "Reconnect storm"


async def run(ctx: ScenarioContext, target: Target) -> dict[str, Any]:
    sz = ctx.sizes
    info: dict[str, Any] = {"params": {
        "clients": sz.s5_clients, "room_size": sz.s5_room_size, "rate": sz.s5_rate,
        "steady_s": sz.s5_steady_s, "kill_after_s": sz.s5_kill_after_s,
        "storm_s": sz.s5_storm_s, "timeout_s": sz.s5_timeout_s}}
    await target.start(1, seq_mode="redis")
    try:
        token_for, info["users"] = await tokens_for(ctx, target, sz.s5_clients, NUMBER)
        layout = room_layout(prefix=f"s5{ctx.run_tag}", conns=sz.s5_clients,
                             room_size=sz.s5_room_size, nodes=1, token_for=token_for)
        async with connected(ctx, target, layout, info) as gen:
            steady = await measured_phase(ctx, gen, target, "s5-steady", sz.s5_rate,
                                          sz.s5_steady_s)
            await gen.arm_reconnect(0.1, 2.0)

            restart: dict[str, float] = {}

            async def kill_and_restart() -> None:
                await asyncio.sleep(0.3 + sz.s5_kill_after_s)  # 0.3 s: the phase's t0 lead
                ctx.log(f"  restarting {target.name} node 0 under {sz.s5_clients} clients")
                restart.update(await target.restart_node(0))

            storm_task = asyncio.create_task(kill_and_restart())
            storm = await measured_phase(ctx, gen, target, "s5-storm", sz.s5_rate,
                                         sz.s5_storm_s)
            await storm_task
            targets = await gen.kill_acks()
            deadline = time.monotonic() + sz.s5_timeout_s
            while True:
                status = await gen.storm_status(targets)
                done = status.caught_up == status.clients if target_resumes(target) else (
                    status.reconnected == status.clients)
                if done or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.2)
    finally:
        await target.stop()
    t_kill, t_down, t_up = (restart.get(k, 0) for k in ("t_kill_ns", "t_down_ns", "t_up_ns"))

    def since(ns: int, ref: float) -> float | None:
        return round((ns - ref) / 1e9, 3) if ns and ref else None

    info["storm"] = {
        "clients": status.clients,
        "reconnected": status.reconnected,
        "caught_up": status.caught_up,
        "missing_seqs": status.missing,
        "reconnect_attempts": status.reconnect_attempts,
        "reconnect_errors": status.errors,
        "node_exit_code": restart.get("exit_code"),
        "downtime_s": since(int(t_up), t_kill),
        # The downtime's two halves: the old process's shutdown, the new one's start.
        "stop_s": since(int(t_down), t_kill),
        "start_s": since(int(t_up), t_down),
        "all_reconnected_after_up_s": since(status.last_ready_ns, t_up),
        "all_caught_up_after_kill_s": since(status.last_caught_ns, t_kill)
        if status.caught_up == status.clients else None,
        "rooms_with_acked_messages_at_kill": len(targets),
        "resume_supported": target_resumes(target),
        # Where "all reconnected" went: waiting out the backoff (the successful
        # attempt's start) or in the server (that attempt's handshake to rejoin).
        "after_up_s": {
            "back": spread(ns - t_up for ns in status.ready_ns),
            "attempt_started": spread(ns - t_up for ns in status.attempt_ns),
            "attempt_took": spread(
                r - a for r, a in zip(status.ready_ns, status.attempt_ns, strict=True)),
        } if t_up else None,
    }
    info["phases"] = [steady.to_json(), storm.to_json()]
    s = info["storm"]
    if s["after_up_s"]:
        ctx.log("  after up (s, p50/p90/max): " + "; ".join(
            f"{k} {v['p50']}/{v['p90']}/{v['max']}" for k, v in s["after_up_s"].items()))
    ctx.log(f"  storm: downtime {s['downtime_s']}s (stop {s['stop_s']}, start {s['start_s']}), "
            f"{s['reconnected']}/{s['clients']} back "
            f"{s['all_reconnected_after_up_s']}s after up, {s['caught_up']} caught up "
            f"(all by {s['all_caught_up_after_kill_s']}s after kill), "
            f"lost {storm.lost}, missing seqs {s['missing_seqs']}")
    info["summary"] = {**headline(storm), "lost_steady": steady.lost,
                       "all_caught_up_after_kill_s": s["all_caught_up_after_kill_s"],
                       "all_reconnected_after_up_s": s["all_reconnected_after_up_s"],
                       "downtime_s": s["downtime_s"]}
    return info


def spread(nanoseconds: Iterable[float]) -> dict[str, float] | None:
    """p50, p90 and max of durations given in ns, in seconds."""
    values = sorted(nanoseconds)
    if not values:
        return None

    def at(q: float) -> float:
        return round(values[min(len(values) - 1, int(q * len(values)))] / 1e9, 3)

    return {"p50": at(0.5), "p90": at(0.9), "max": round(values[-1] / 1e9, 3)}


def target_resumes(target: Target) -> bool:
    return WIRES[target.wire].supports_resume
