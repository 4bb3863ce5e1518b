"""Scenario 3: latency at a fixed load (2,000 connections, 1,000 publishes/s, rooms of 20).

Every client publishes (about 0.5 msg/s each at full size). A warm-up phase at the
same load runs first and is kept in the results but not in the summary.
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

NUMBER = 3
TITLE = "Fixed load latency"


async def run(ctx: ScenarioContext, target: Target) -> dict[str, Any]:
    sz = ctx.sizes
    info: dict[str, Any] = {"params": {
        "conns": sz.s3_conns, "room_size": sz.s3_room_size, "rate": sz.s3_rate,
        "duration_s": sz.s3_duration_s, "warmup_s": sz.s3_warmup_s}}
    await target.start(1)
    try:
        token_for, info["users"] = await tokens_for(ctx, target, sz.s3_conns, NUMBER)
        layout = room_layout(prefix=f"s3{ctx.run_tag}", conns=sz.s3_conns,
                             room_size=sz.s3_room_size, nodes=1, token_for=token_for)
        async with connected(ctx, target, layout, info) as gen:
            res, phases = await warmed_phase(ctx, gen, target, "s3", sz.s3_rate,
                                             sz.s3_duration_s, sz.s3_warmup_s)
    finally:
        await target.stop()
    info["phases"] = phases
    info["summary"] = headline(res)
    return info
