"""The node's Prometheus metrics, one registry per application.

Each app owns its `CollectorRegistry` (never prometheus_client's global one):
several apps run in one test process, and each must report only itself.

Counters that are bumped per frame keep their labelled children in dicts, so
the hot path is a dict look-up and an increment: no label tuple is built and
no lock of the family is taken per frame.
"""

from __future__ import annotations

from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

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


class Metrics:
    """Every metric chatd exports, registered in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self.sockets_open = Gauge(
            "chatd_sockets_open", "WebSockets past hello, open on this node", registry=registry
        )
        self.frames_in = Counter(
            "chatd_frames_in", "Text frames received, by type", ["type"], registry=registry
        )
        self.frames_out = Counter(
            "chatd_frames_out",
            "Frames sent, per socket, by type (fanout: frames encoded once for several sockets)",
            ["type"],
            registry=registry,
        )
        self.refusals = Counter(
            "chatd_refusals",
            "Refusals by code: error frames (via=frame), REST errors (via=http),"
            " refused WebSocket handshakes (via=handshake)",
            ["via", "code"],
            registry=registry,
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
        self._in: dict[str, Counter] = {}
        self._out: dict[str, Counter] = {}
        self._frame_refusals: dict[str, Counter] = {}
        #: Bumped for every fanned-out frame, so that path looks nothing up.
        self.room_events_out = self.frames_out.labels("fanout")

    def frame_in(self, frame_type: str) -> None:
        """One received frame of a served type (others: `UNKNOWN_TYPE`)."""
        child = self._in.get(frame_type)
        if child is None:
            child = self._in[frame_type] = self.frames_in.labels(frame_type)
        child.inc()

    def frame_out(self, frame_type: str) -> None:
        """One frame chatd built for one socket (its types are chatd's own)."""
        child = self._out.get(frame_type)
        if child is None:
            child = self._out[frame_type] = self.frames_out.labels(frame_type)
        child.inc()

    def frame_refused(self, code: str) -> None:
        child = self._frame_refusals.get(code)
        if child is None:
            child = self._frame_refusals[code] = self.refusals.labels("frame", code)
        child.inc()

    def exposition(self) -> bytes:
        """The registry in Prometheus's text format."""
        return generate_latest(self.registry)
