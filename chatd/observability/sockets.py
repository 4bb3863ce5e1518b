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

    __slots__ = ("_log", "fanout_out", "metrics", "replayed_events")

    def __init__(self, metrics: Metrics, logger: logging.Logger) -> None:
        self.metrics = metrics
        self._log = LimitedLog(logger)
        #: Frames encoded once and sent to several sockets (room events,
        #: ephemeral and user frames), counted per socket they reach.
        self.fanout_out = metrics.room_events_out
        self.replayed_events = metrics.replayed_events

    def received(self, frame_type: str) -> None:
        self.metrics.frame_in(frame_type)

    def sent(self, frame: Mapping[str, object]) -> None:
        """One frame built for one socket; an `error` frame counts as a refusal too."""
        frame_type = str(frame["type"])
        self.metrics.frame_out(frame_type)
        if frame_type == "error":
            self.metrics.frame_refused(str(frame["code"]))

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
        self.metrics.refusals.labels("handshake", code).inc()
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
