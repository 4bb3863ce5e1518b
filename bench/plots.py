"""PNG plots from a results document (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.ticker import NullFormatter, ScalarFormatter

PERCENTILES = (("p50", "-"), ("p99", "--"), ("p999", ":"))


def _runs(doc: dict[str, Any], num: int) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for tname, t in doc.get("targets", {}).items():
        sc = t.get("scenarios", {}).get(str(num))
        if sc:
            ok = [r for r in sc["runs"] if r.get("status") == "ok"]
            if ok:
                out[tname] = ok
    return out


def latency_vs_load(doc: dict[str, Any], path: Path) -> bool:
    """Scenario 1's ramp: delivery latency percentiles against offered publish rate."""
    runs = _runs(doc, 1)
    if not runs:
        return False
    fig, ax = plt.subplots(figsize=(8, 5))
    for i, (tname, rs) in enumerate(runs.items()):
        color = f"C{i}"
        steps = rs[-1]["steps"]
        xs = [s["offered_msgs_per_s"] for s in steps]
        for pct, style in PERCENTILES:
            ys = [s["latency_ms"][pct] for s in steps]
            ax.plot(xs, ys, style, marker="o", color=color, label=f"{tname} {pct}")
    limit = doc.get("config", {}).get("sizes", {}).get("s1_p99_limit_ms")
    if limit:
        ax.axhline(limit, color="grey", linewidth=0.8, label=f"p99 limit {limit} ms")
    members = doc.get("config", {}).get("sizes", {}).get("s1_members")
    ax.set(xscale="log", yscale="log", xlabel="offered publishes/s into one room",
           ylabel="delivery latency (ms)",
           title=f"Scenario 1: one room of {members} members (last run)")
    # Tick the rates actually offered (every other one when crowded), in plain numbers.
    rates = sorted({s["offered_msgs_per_s"] for rs in runs.values() for s in rs[-1]["steps"]})
    ticks = rates if len(rates) <= 10 else rates[::2]
    ax.set_xticks(ticks, [f"{r:.3g}" for r in ticks])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.yaxis.set_major_formatter(ScalarFormatter())
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def deliveries(doc: dict[str, Any], path: Path) -> bool:
    """Deliveries/s per scenario and target (median over runs)."""
    scen = [1, 2, 3, 5]
    targets = list(doc.get("targets", {}))
    data = {t: [(doc["targets"][t].get("scenarios", {}).get(str(n), {}).get("median") or {})
                .get("deliveries_per_s", 0.0) for n in scen] for t in targets}
    if not any(any(v) for v in data.values()):
        return False
    fig, ax = plt.subplots(figsize=(8, 5))
    width = 0.8 / max(1, len(targets))
    for i, t in enumerate(targets):
        xs = [k + i * width for k in range(len(scen))]
        ax.bar(xs, data[t], width, label=t)
    ax.set_xticks([k + width * (len(targets) - 1) / 2 for k in range(len(scen))])
    ax.set_xticklabels(["1 big room\n(highest clean)", "2 small rooms\n2 nodes",
                        "3 fixed load", "5 reconnect\nstorm"])
    ax.set(ylabel="deliveries/s", title="Deliveries per second (median of runs)")
    values = [v for vs in data.values() for v in vs if v]
    if values and max(values) / min(values) > 20:
        ax.set_yscale("log")  # scenarios differ by orders of magnitude
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def rss_per_conn(doc: dict[str, Any], path: Path) -> bool:
    """Scenario 4: server RSS growth per idle connection at each step."""
    runs = _runs(doc, 4)
    if not runs:
        return False
    fig, ax = plt.subplots(figsize=(8, 5))
    for i, (tname, rs) in enumerate(runs.items()):
        steps = rs[-1]["steps"]
        ax.plot([s["connections"] for s in steps], [s["rss_per_conn_kib"] for s in steps],
                marker="o", color=f"C{i}", label=f"{tname} (growth / conns)")
        ax.plot([s["connections"] for s in steps], [s["marginal_per_conn_kib"] for s in steps],
                "--", marker="x", color=f"C{i}", label=f"{tname} (marginal)")
    ax.set(xlabel="idle authenticated connections", ylabel="server RSS per connection (KiB)",
           title="Scenario 4: idle capacity (last run)")
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def render_all(doc: dict[str, Any], outdir: Path) -> list[Path]:
    outdir.mkdir(parents=True, exist_ok=True)
    made = []
    for name, fn in (("latency_vs_load.png", latency_vs_load),
                     ("deliveries_per_s.png", deliveries),
                     ("rss_per_connection.png", rss_per_conn)):
        p = outdir / name
        if fn(doc, p):
            made.append(p)
    return made
