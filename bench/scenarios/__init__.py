"""The scenarios of issue 9. Scenarios 1-5 run per target; 6 measures the store alone."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from bench.scenarios import s1_big_room, s2_many_rooms, s3_fixed_load, s4_idle, s5_reconnect
from bench.scenarios.common import ScenarioContext
from bench.targets import Target

Runner = Callable[[ScenarioContext, Target], Awaitable[dict[str, Any]]]

#: number -> (title, run); in the order the issue asks them to be built and run.
PER_TARGET: dict[int, tuple[str, Runner]] = {
    m.NUMBER: (m.TITLE, m.run)
    for m in (s1_big_room, s2_many_rooms, s3_fixed_load, s4_idle, s5_reconnect)
}
STORE = 6
ALL = (1, 2, 3, 4, 5, 6)
