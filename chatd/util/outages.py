"""Backend outages, seen from the edges: one warning per kind, not one per request.

During an outage every request and frame fails the same way; logging each (with a
traceback) would bury the one line an operator needs under thousands. `OutageLog`
writes the first failure of each kind (backend + exception class) at once, then at
most one line per interval that says how many more there were (`LimitedLog`);
`recovered` writes one line when a backend that was noted answers again.
"""

from __future__ import annotations

import logging
from typing import Final

from chatd.errors import StorageFull, Unavailable
from chatd.util.log_limiter import LimitedLog

#: At most one warning per failure kind this often while an outage lasts.
WARN_INTERVAL_SECONDS: Final = 60.0


class OutageLog:
    """Rate-limited warnings for `Unavailable` / `StorageFull` seen at an edge."""

    def __init__(self, logger: logging.Logger, interval: float = WARN_INTERVAL_SECONDS) -> None:
        self._log = LimitedLog(logger, interval)

    def note(self, exc: Unavailable | StorageFull, where: str) -> None:
        """Count one failure; log it if its kind was quiet for the interval."""
        what = "is full" if isinstance(exc, StorageFull) else "is unavailable"
        self._log.note(
            (exc.backend, type(exc).__name__),
            logging.WARNING,
            "%s %s (%s, in %s)",
            exc.backend,
            what,
            exc,
            where,
        )

    def recovered(self, backend: str, where: str) -> None:
        """Log once that `backend` answers again, if an outage of it was noted."""
        missed = self._log.forget(lambda kind: isinstance(kind, tuple) and kind[0] == backend)
        if missed is None:
            return
        more = f" ({missed} more failures since the last warning)" if missed else ""
        self._log.logger.info("%s is available again (in %s)%s", backend, where, more)
