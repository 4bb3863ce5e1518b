"""Results: one JSON document per run, medians over repeats, and a console table."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

#: Summary fields printed per scenario, in this order, with their column titles.
TABLE_FIELDS: dict[int, list[tuple[str, str]]] = {
    1: [("highest_clean_rate", "clean msg/s"),
        ("clean_rate_until_first_breach", "until 1st breach"), ("deliveries_per_s", "deliv/s"),
        ("p99_ms", "p99 ms"), ("lost", "lost"),
        ("cpu_s_per_million_deliveries", "CPU-s/M"), ("server_rss_mb", "RSS MiB")],
    2: [("deliveries_per_s", "deliv/s"), ("p50_ms", "p50 ms"), ("p99_ms", "p99 ms"),
        ("p999_ms", "p99.9 ms"), ("lost", "lost"), ("cpu_s_per_million_deliveries", "CPU-s/M"),
        ("server_rss_mb", "RSS MiB")],
    3: [("deliveries_per_s", "deliv/s"), ("p50_ms", "p50 ms"), ("p99_ms", "p99 ms"),
        ("p999_ms", "p99.9 ms"), ("lost", "lost"), ("cpu_s_per_million_deliveries", "CPU-s/M"),
        ("server_rss_mb", "RSS MiB")],
    4: [("connections", "conns"), ("rss_per_conn_kib", "KiB/conn"),
        ("marginal_per_conn_kib", "marginal KiB"), ("server_rss_mb", "RSS MiB")],
    5: [("downtime_s", "down s"), ("all_reconnected_after_up_s", "reconn s"),
        ("all_caught_up_after_kill_s", "caught-up s"), ("lost", "lost"),
        ("lost_steady", "lost steady"), ("p99_ms", "p99 ms")],
}


def median_summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per numeric summary field, the median over the runs that produced it."""
    ok = [r["summary"] for r in runs if r.get("status") == "ok" and "summary" in r]
    if not ok:
        return {}
    keys = {k for s in ok for k in s}
    out: dict[str, Any] = {}
    for k in sorted(keys):
        vals = [s[k] for s in ok if isinstance(s.get(k), int | float)
                and not isinstance(s.get(k), bool)]
        if vals:
            out[k] = round(statistics.median(vals), 3)
    out["runs"] = len(ok)
    return out


def write(doc: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1, sort_keys=False, default=str) + "\n")


def table(doc: dict[str, Any]) -> str:
    lines: list[str] = []
    for num, fields in TABLE_FIELDS.items():
        rows = []
        for tname, t in doc.get("targets", {}).items():
            sc = t.get("scenarios", {}).get(str(num))
            if sc is None:
                continue
            med = sc.get("median") or {}
            if med:
                rows.append([tname] + [_fmt(med.get(k)) for k, _ in fields])
            else:
                reason = sc["runs"][-1].get("error") or sc["runs"][-1].get("reason", "")
                rows.append([tname, f"{sc['runs'][-1].get('status')}: "
                             f"{str(reason).splitlines()[0][:90] if reason else ''}"])
        if not rows:
            continue
        lines.append(f"Scenario {num}")
        head = ["target"] + [title for _, title in fields]
        # Failure rows are [target, message]: they do not set the column widths.
        full = [r for r in [head, *rows] if len(r) == len(head)]
        widths = [max(len(str(r[i])) for r in full) for i in range(len(head))]
        widths[0] = max(len(str(r[0])) for r in [head, *rows])
        for r in [head, *rows]:
            cells = [str(c).ljust(widths[i]) for i, c in enumerate(r[:-1])] + [str(r[-1])]
            lines.append("  " + "  ".join(cells).rstrip())
    store = doc.get("store")
    if store:
        lines.append("Scenario 6 (store)")
        for kind, r in store.get("backends", {}).items():
            if r.get("status") == "ok":
                lines.append(f"  {kind}: {r['persisted_msgs_per_s']:,} msgs/s persisted; "
                             f"history p99 {r['history_before_ms']['p99']} ms")
            else:
                lines.append(f"  {kind}: {r.get('status')}: {r.get('reason') or r.get('error')}")
    return "\n".join(lines)


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.1f}" if abs(v) >= 100 else f"{v:g}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


#: Scenarios where a target loses messages by design (Socket.IO has no resume).
_LOSS_BY_DESIGN = {("socketio", "5")}


def breakage(doc: dict[str, Any], *, check_loss: bool) -> list[str]:
    """What makes a run a failure (the exit status), never a timing.

    Always: a scenario that failed (a target that did not start, a generator
    error) and a failed peer check. With `check_loss` (quick runs, whose loads
    sit far below any saturation): any lost delivery, except where a target
    loses by design.
    """
    problems = []
    check = doc.get("peer_check")
    if isinstance(check, dict) and check.get("ok") is False:
        problems.append(f"peer check failed: {check.get('error')}")
    for name, target in doc.get("targets", {}).items():
        for num, entry in target.get("scenarios", {}).items():
            for run in entry.get("runs", []):
                if run.get("status") == "failed":
                    problems.append(f"{name} scenario {num} failed: {run.get('error')}")
            lost = entry.get("median", {}).get("lost")
            if check_loss and lost and (name, num) not in _LOSS_BY_DESIGN:
                problems.append(f"{name} scenario {num} lost {lost} deliveries")
    return problems
