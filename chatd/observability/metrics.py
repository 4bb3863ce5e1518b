"""The node's Prometheus metrics, one registry per application.

Each app owns its `CollectorRegistry` (never prometheus_client's global one):
several apps run in one test process, and each must report only itself.

The counters bumped per frame (frames in and out, refusals) are plain ints in
`FrameCounts`, read only when scraped: prometheus_client's `Counter.inc` takes a
lock (~330 ns measured), several times the cost of writing the frame to a socket
that keeps up, and a fanned-out frame is counted once per recipient. An int
increment costs ~50 ns. Everything runs on the event loop, scrapes included, so
the ints need no lock.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector

#: The exposition format's content type, for the /metrics responses.
CONTENT_TYPE: Final = CONTENT_TYPE_LATEST

#: Store and broker calls take from ~50 us (in-process) to seconds (an outage's
#: timeouts): buckets from 0.1 ms to 5 s cover both ends.
CALL_BUCKETS: Final = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0
)  # fmt: skip
#: HTTP requests range from a health check to a 25 MB upload.
HTTP_BUCKETS: Final = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

#: The label for frame types no handler serves: a client chooses the type, and
#: one series per made-up name would let it grow the registry without bound.
UNKNOWN_TYPE: Final = "unknown"


class FrameCounts:
    """The per-frame counters, as plain ints (see the module's docstring)."""

    __slots__ = ("fanout", "received", "refused", "sent")

    def __init__(self) -> None:
        #: Frames encoded once and sent to several sockets, per receiving socket.
        self.fanout = 0
        #: Frames received, by served type (others under UNKNOWN_TYPE).
        self.received: dict[str, int] = {}
        #: Frames built for one socket, by type.
        self.sent: dict[str, int] = {}
        #: Refusals by (via, code): error frames, REST errors, refused handshakes.
        self.refused: dict[tuple[str, str], int] = {}

    def refuse(self, via: str, code: str) -> None:
        key = (via, code)
        self.refused[key] = self.refused.get(key, 0) + 1


class _FrameCountsCollector(Collector):
    """Exports `FrameCounts` as counter families when the registry is scraped."""

    def __init__(self, counts: FrameCounts) -> None:
        self._counts = counts

    def collect(self) -> Iterator[Metric]:
        counts = self._counts
        received = CounterMetricFamily(
            "chatd_frames_in", "Text frames received, by type", labels=["type"]
        )
        for frame_type, value in counts.received.items():
            received.add_metric([frame_type], value)
        sent = CounterMetricFamily(
            "chatd_frames_out",
            "Frames sent, per receiving socket, by type"
            " (fanout: frames encoded once for several sockets)",
            labels=["type"],
        )
        for frame_type, value in counts.sent.items():
            sent.add_metric([frame_type], value)
        sent.add_metric(["fanout"], counts.fanout)
        refused = CounterMetricFamily(
            "chatd_refusals",
            "Refusals by code: error frames (via=frame), REST errors (via=http),"
            " refused WebSocket handshakes (via=handshake)",
            labels=["via", "code"],
        )
        for (via, code), value in counts.refused.items():
            refused.add_metric([via, code], value)
        yield from (received, sent, refused)


class Metrics:
    """Every metric chatd exports, registered in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self.frames = FrameCounts()
        registry.register(_FrameCountsCollector(self.frames))
        self.sockets_open = Gauge(
            "chatd_sockets_open", "WebSockets past hello, open on this node", registry=registry
        )
        self.store_seconds = Histogram(
            "chatd_store_call_seconds",
            "Store call latency, by method",
            ["method"],
            buckets=CALL_BUCKETS,
            registry=registry,
        )
        self.broker_seconds = Histogram(
            "chatd_broker_call_seconds",
            "Broker call latency, by method",
            ["method"],
            buckets=CALL_BUCKETS,
            registry=registry,
        )
        self.broker_reconnects = Counter(
            "chatd_broker_reconnects", "Broker connections re-established", registry=registry
        )
        self.slow_consumer_closes = Counter(
            "chatd_slow_consumer_closes",
            "Sockets closed with 4008 for not reading",
            registry=registry,
        )
        self.resumes = Counter(
            "chatd_resumes", "Rooms resumed (resume frames and hello's resume)", registry=registry
        )
        self.replayed_events = Counter(
            "chatd_replayed_events", "Room events replayed to resuming sockets", registry=registry
        )
        self.http_requests = Counter(
            "chatd_http_requests",
            "HTTP requests by method, route pattern and status",
            ["method", "route", "status"],
            registry=registry,
        )
        self.http_seconds = Histogram(
            "chatd_http_request_seconds",
            "HTTP request duration by route pattern",
            ["route"],
            buckets=HTTP_BUCKETS,
            registry=registry,
        )
        self.uploads = Counter("chatd_uploads", "Files uploaded", registry=registry)
        self.upload_bytes = Counter(
            "chatd_upload_bytes", "Bytes of files uploaded", registry=registry
        )

    def exposition(self) -> bytes:
        """The registry in Prometheus's text format."""
        return generate_latest(self.registry)
