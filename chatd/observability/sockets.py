"""What one app's sockets report: their counters and their rate-limited lines.

Every `Connection` holds the app's `SocketEvents` (one reference per socket),
so the fan-out layer counts frames and slow consumers without knowing the app.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from chatd.observability.metrics import Metrics
from chatd.util.log_limiter import LimitedLog


class SocketEvents:
    """Counters bumped by sockets, and the lines they log in floods."""

    __slots__ = ("_log", "counts", "metrics", "replayed_events")

    def __init__(self, metrics: Metrics, logger: logging.Logger) -> None:
        self.metrics = metrics
        self._log = LimitedLog(logger)
        #: Plain ints: a connection bumps `counts.fanout` for every frame encoded
        #: once for several sockets (room events, ephemeral and user frames).
        self.counts = metrics.frames
        self.replayed_events = metrics.replayed_events

    def received(self, frame_type: str) -> None:
        """One received frame (of a served type, else `UNKNOWN_TYPE`)."""
        received = self.counts.received
        received[frame_type] = received.get(frame_type, 0) + 1

    def sent(self, frame: Mapping[str, object]) -> None:
        """One frame built for one socket; an `error` frame counts as a refusal too."""
        frame_type = str(frame["type"])
        sent = self.counts.sent
        sent[frame_type] = sent.get(frame_type, 0) + 1
        if frame_type == "error":
            self.counts.refuse("frame", str(frame["code"]))

    def slow_consumer(self, conn_id: str, username: str, where: str) -> None:
        self.metrics.slow_consumer_closes.inc()
        self._log.note(
            "slow-consumer",
            logging.WARNING,
            "closing slow consumer %s (%s)%s",
            conn_id,
            username,
            where,
        )

    def handshake_refused(self, code: str, reason: str, address: str) -> None:
        """A WebSocket turned away before it served anything (origin, caps, hello)."""
        self.counts.refuse("handshake", code)
        self._log.note(
            ("handshake", code),
            logging.WARNING,
            "refused WebSocket from %s: %s (%s)",
            address,
            reason,
            code,
        )

    def resumed(self) -> None:
        self.metrics.resumes.inc()
