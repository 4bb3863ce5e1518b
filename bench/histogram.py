"""Latency histograms: HdrHistogram in microseconds, mergeable across processes.

Values are recorded in whole microseconds from 1 us to 5 minutes with 3 significant
digits (0.1 % value precision), which is what HdrHistogram was made for: exact
high percentiles at constant memory, and lossless merging of the generator
processes' histograms through `encode()` / `decode()`.
"""

from __future__ import annotations

from typing import Any

from hdrh.histogram import HdrHistogram

LOWEST_US = 1
HIGHEST_US = 300_000_000
SIG_FIGS = 3


class LatencyHistogram:
    __slots__ = ("_h", "overflow")

    def __init__(self) -> None:
        self._h = HdrHistogram(LOWEST_US, HIGHEST_US, SIG_FIGS)
        #: Values above HIGHEST_US (never expected; counted so they are not silently lost).
        self.overflow = 0

    def record_ns(self, ns: int) -> None:
        us = ns // 1000
        if us < LOWEST_US:
            # Sub-microsecond or a tiny negative clock step: count it as 1 us.
            us = LOWEST_US
        elif us > HIGHEST_US:
            self.overflow += 1
            us = HIGHEST_US
        self._h.record_value(us)

    @property
    def count(self) -> int:
        return int(self._h.get_total_count())

    def encode(self) -> tuple[bytes, int]:
        return self._h.encode(), self.overflow

    @classmethod
    def decode(cls, data: tuple[bytes, int]) -> LatencyHistogram:
        out = cls()
        encoded, overflow = data
        if encoded:
            out._h.add(HdrHistogram.decode(encoded))
        out.overflow = overflow
        return out

    def merge(self, other: LatencyHistogram) -> None:
        if other.count:
            self._h.add(other._h)
        self.overflow += other.overflow

    def summary_ms(self) -> dict[str, Any]:
        """p50/p90/p99/p99.9/max/mean in milliseconds (None when nothing was recorded)."""
        n = self.count
        if n == 0:
            return {"count": 0, "p50": None, "p90": None, "p99": None, "p999": None,
                    "max": None, "mean": None}
        h = self._h

        def ms(p: float) -> float:
            return round(float(h.get_value_at_percentile(p)) / 1000.0, 3)

        return {
            "count": n,
            "p50": ms(50),
            "p90": ms(90),
            "p99": ms(99),
            "p999": ms(99.9),
            "max": round(h.get_max_value() / 1000.0, 3),
            "mean": round(h.get_mean_value() / 1000.0, 3),
            "overflow": self.overflow,
        }
