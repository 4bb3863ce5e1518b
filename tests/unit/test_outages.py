"""OutageLog: the first failure of each kind is logged, then one line per interval."""

from __future__ import annotations

import logging
import time

import pytest

from chatd.errors import StorageFull, Unavailable
from chatd.util.outages import OutageLog

logger = logging.getLogger("test.outages")


def test_one_line_per_kind_until_the_interval_passes(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="test.outages")
    log = OutageLog(logger, interval=3600)

    for _ in range(5):
        log.note(Unavailable("broker", "redis: connection refused"), "POST /api/auth/login")
    log.note(Unavailable("store", "mongodb: no server"), "hello")
    log.note(StorageFull("store", "disk full"), "'message' frame")

    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "broker is unavailable (redis: connection refused, in POST /api/auth/login)",
        "store is unavailable (mongodb: no server, in hello)",
        "store is full (disk full, in 'message' frame)",
    ]


def test_after_the_interval_the_next_line_counts_the_quiet_ones(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="test.outages")
    log = OutageLog(logger, interval=0.2)

    for where in ("a", "b", "c"):
        log.note(Unavailable("broker", "down"), where)
    time.sleep(0.25)
    log.note(Unavailable("broker", "down"), "d")

    assert [r.getMessage() for r in caplog.records] == [
        "broker is unavailable (down, in a)",
        "broker is unavailable (down, in d) (2 more since the last warning)",
    ]
