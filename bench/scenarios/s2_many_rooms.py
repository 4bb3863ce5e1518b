"""Scenario 2: many small rooms (5,000 connections in rooms of 10) on two nodes + Redis.

Consecutive members of a room alternate between the two nodes, so most deliveries
cross the broker. The peer runs with `--seq redis` here so its per-room seq stays
gapless across its two processes, as chatd's must. A warm-up phase at the same load
runs first and is kept in the results but not in the summary, as in scenario 3:
without it the measured phase began while 5,000 fresh connections were still
settling on the nodes, and its p99 was 6-8 ms in some runs and 170-330 ms in others.
"""

from __future__ import annotations

from typing import Any

from bench.loadgen import room_layout
from bench.scenarios.common import (
    ScenarioContext,
    connected,
    headline,
    tokens_for,
    warmed_phase,
)
from bench.targets import Target

NUMBER = 2
TITLE = "Many small rooms on two nodes"
NODES = 2


async def run(ctx: ScenarioContext, target: Target) -> dict[str, Any]:
    sz = ctx.sizes
    info: dict[str, Any] = {"params": {
        "conns": sz.s2_conns, "room_size": sz.s2_room_size, "rate": sz.s2_rate,
        "duration_s": sz.s2_duration_s, "warmup_s": sz.s2_warmup_s, "nodes": NODES}}
    await target.start(NODES, seq_mode="redis")
    try:
        token_for, info["users"] = await tokens_for(ctx, target, sz.s2_conns, NUMBER)
        layout = room_layout(prefix=f"s2{ctx.run_tag}", conns=sz.s2_conns,
                             room_size=sz.s2_room_size, nodes=NODES, token_for=token_for)
        async with connected(ctx, target, layout, info) as gen:
            res, phases = await warmed_phase(ctx, gen, target, "s2", sz.s2_rate,
                                             sz.s2_duration_s, sz.s2_warmup_s)
    finally:
        await target.stop()
    info["phases"] = phases
    info["summary"] = headline(res)
    return info
