"""Scenario 1: one big room, publish rate ramped until p99 > limit or any loss.

`s1_senders` members publish round-robin; after `s1_warmup_s` at the start rate
(unreported, like scenario 3's warm-up), the total rate starts at
`s1_start_rate` and is multiplied by `s1_factor` per step. A step is clean when
nothing was lost, rejected or unsendable and p99 stayed within the limit; the
result is the highest clean rate (and the deliveries/s it produced).

The ramp stops at the first step that lost, rejected or failed to send
anything, or once `s1_patience` steps in a row were over the p99 limit (see
config.py for why one is not enough); `clean_rate_until_first_breach` is what a
ramp stopping at the first unclean step would have reported.
"""

from __future__ import annotations

from typing import Any

from bench.loadgen import PhaseResult, room_layout
from bench.scenarios.common import (
    ScenarioContext,
    connected,
    headline,
    measured_phase,
    tokens_for,
)
from bench.targets import Target

NUMBER = 1
TITLE = "One big room: highest clean publish rate"


def delivered_everything(res: PhaseResult) -> bool:
    return res.lost == 0 and res.excess == 0 and res.rejected == 0 and res.send_failed == 0


def within_limit(res: PhaseResult, p99_limit_ms: float) -> bool:
    p99 = res.latency.summary_ms()["p99"]
    return p99 is not None and p99 <= p99_limit_ms


def is_clean(res: PhaseResult, p99_limit_ms: float) -> bool:
    return delivered_everything(res) and within_limit(res, p99_limit_ms)


async def run(ctx: ScenarioContext, target: Target) -> dict[str, Any]:
    sz = ctx.sizes
    info: dict[str, Any] = {"params": {
        "members": sz.s1_members, "senders": sz.s1_senders, "start_rate": sz.s1_start_rate,
        "factor": sz.s1_factor, "step_s": sz.s1_step_s, "max_steps": sz.s1_max_steps,
        "p99_limit_ms": sz.s1_p99_limit_ms, "warmup_s": sz.s1_warmup_s,
        "patience": sz.s1_patience}}
    await target.start(1)
    try:
        token_for, info["users"] = await tokens_for(ctx, target, sz.s1_members, NUMBER)
        layout = room_layout(prefix=f"s1{ctx.run_tag}", conns=sz.s1_members,
                             room_size=sz.s1_members, nodes=1, token_for=token_for,
                             senders_per_room=sz.s1_senders)
        steps: list[dict[str, Any]] = []
        best: PhaseResult | None = None
        until_first_breach: PhaseResult | None = None
        over_in_a_row = 0
        async with connected(ctx, target, layout, info) as gen:
            rate = sz.s1_start_rate
            if sz.s1_warmup_s > 0:
                warm = await measured_phase(ctx, gen, target, "s1-warmup", rate, sz.s1_warmup_s)
                info["warmup"] = warm.to_json()
            for step in range(sz.s1_max_steps):
                res = await measured_phase(ctx, gen, target, f"s1-step{step}", rate,
                                           sz.s1_step_s)
                clean = is_clean(res, sz.s1_p99_limit_ms)
                steps.append({**res.to_json(), "clean": clean})
                if clean:
                    best = res
                    over_in_a_row = 0
                    if all(s["clean"] for s in steps):
                        until_first_breach = res
                else:
                    over_in_a_row += 1
                    if not delivered_everything(res) or over_in_a_row >= sz.s1_patience:
                        break
                rate = round(rate * sz.s1_factor, 3)
    finally:
        await target.stop()
    info["steps"] = steps
    info["saturated"] = bool(steps) and not steps[-1]["clean"]
    info["summary"] = ({**headline(best), "highest_clean_rate": best.offered_rate}
                       if best else {"highest_clean_rate": 0.0})
    info["summary"]["clean_rate_until_first_breach"] = (
        until_first_breach.offered_rate if until_first_breach else 0.0)
    return info
