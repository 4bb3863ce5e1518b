"""Backend outages, seen from the edges: one warning per kind, not one per request.

During an outage every request and frame fails the same way; logging each (with a
traceback) would bury the one line an operator needs under thousands. `OutageLog`
writes the first failure of each kind (backend + exception class) at once, then at
most one line per interval that says how many more there were; `recovered` writes
one line when a backend that was noted answers again.
"""

from __future__ import annotations

import logging
import time
from typing import Final

from chatd.errors import StorageFull, Unavailable

#: At most one warning per failure kind this often while an outage lasts.
WARN_INTERVAL_SECONDS: Final = 60.0


class OutageLog:
    """Rate-limited warnings for `Unavailable` / `StorageFull` seen at an edge."""

    def __init__(self, logger: logging.Logger, interval: float = WARN_INTERVAL_SECONDS) -> None:
        self._logger = logger
        self._interval = interval
        #: kind -> (monotonic time of the last line, failures not logged since)
        self._kinds: dict[tuple[str, str], tuple[float, int]] = {}

    def note(self, exc: Unavailable | StorageFull, where: str) -> None:
        """Count one failure; log it if its kind was quiet for the interval."""
        kind = (exc.backend, type(exc).__name__)
        now = time.monotonic()
        last, quiet = self._kinds.get(kind, (float("-inf"), 0))
        if now - last < self._interval:
            self._kinds[kind] = (last, quiet + 1)
            return
        self._kinds[kind] = (now, 0)
        more = f" ({quiet} more since the last warning)" if quiet else ""
        what = "is full" if isinstance(exc, StorageFull) else "is unavailable"
        self._logger.warning("%s %s (%s, in %s)%s", exc.backend, what, exc, where, more)

    def recovered(self, backend: str, where: str) -> None:
        """Log once that `backend` answers again, if an outage of it was noted."""
        kinds = [kind for kind in self._kinds if kind[0] == backend]
        if not kinds:
            return
        missed = sum(self._kinds.pop(kind)[1] for kind in kinds)
        more = f" ({missed} more failures since the last warning)" if missed else ""
        self._logger.info("%s is available again (in %s)%s", backend, where, more)
