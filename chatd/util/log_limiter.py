"""Warnings that come in floods, logged as one line per kind and interval.

During an outage, a reconnect storm or an attack, every request fails the same
way; a line for each would bury the one an operator needs under thousands.
`LimitedLog` writes the first occurrence of each kind at once, then at most one
line per interval that says how many more there were.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Hashable
from typing import Final

#: At most one line per kind this often while a flood lasts.
INTERVAL_SECONDS: Final = 60.0
#: Kinds remembered at once: kinds can come from clients (an origin), so the
#: table is cleared rather than grown without bound.
MAX_KINDS: Final = 1024


class LimitedLog:
    """Rate-limited lines on one logger, per kind."""

    def __init__(
        self,
        logger: logging.Logger,
        interval: float = INTERVAL_SECONDS,
        max_kinds: int = MAX_KINDS,
    ) -> None:
        self.logger = logger
        self._interval = interval
        self._max_kinds = max_kinds
        #: kind -> (monotonic time of the last line, occurrences not logged since)
        self._kinds: dict[Hashable, tuple[float, int]] = {}

    def note(self, kind: Hashable, level: int, message: str, *args: object) -> None:
        """Count one occurrence of `kind`; log it if the kind was quiet for the interval."""
        now = time.monotonic()
        last, quiet = self._kinds.get(kind, (float("-inf"), 0))
        if now - last < self._interval:
            self._kinds[kind] = (last, quiet + 1)
            return
        if len(self._kinds) >= self._max_kinds and kind not in self._kinds:
            self._kinds.clear()
        self._kinds[kind] = (now, 0)
        if quiet:
            self.logger.log(level, message + " (%d more since the last warning)", *args, quiet)
        else:
            self.logger.log(level, message, *args)

    def forget(self, matches: Callable[[Hashable], bool]) -> int | None:
        """Forget the kinds `matches` accepts; None if there were none, else how many
        occurrences of them went unlogged (an outage that ended, say)."""
        kinds = [kind for kind in self._kinds if matches(kind)]
        if not kinds:
            return None
        return sum(self._kinds.pop(kind)[1] for kind in kinds)
