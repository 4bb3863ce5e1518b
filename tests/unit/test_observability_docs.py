"""The Grafana dashboard and docs/observability.md name only metrics chatd exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

from chatd.observability.metrics import Metrics

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _exported() -> set[str]:
    metrics = Metrics()
    # Touch one child of each labelled family so its samples are listed.
    metrics.frames.received["message"] = 1
    metrics.frames.sent["ack"] = 1
    metrics.frames.refuse("frame", "invalid")
    metrics.store_seconds.labels("append_message").observe(0.001)
    metrics.broker_seconds.labels("publish").observe(0.001)
    metrics.http_requests.labels("GET", "/healthz", "200").inc()
    metrics.http_seconds.labels("/healthz").observe(0.001)
    return {sample.name for family in metrics.registry.collect() for sample in family.samples}


def test_the_dashboard_queries_exported_metrics():
    dashboard = json.loads((DOCS / "grafana-dashboard.json").read_text())
    used = set(re.findall(r"chatd_[a-z_]+", json.dumps(dashboard["panels"])))
    assert used
    assert used <= _exported()


def test_the_docs_describe_every_metric():
    text = (DOCS / "observability.md").read_text()
    families = {family.name for family in Metrics().registry.collect()}
    undocumented = {name for name in families if f"`{name}" not in text}
    assert undocumented == set()
