"""Writers of one SQLite file from several processes take turns promptly.

Several chatd processes may share one SQLite file (nodes on one host, each with
a core, sharing Redis). SQLite's own wait for another process's write lock is a
busy handler that sleeps between attempts, 1 ms at first and 100 ms after a
quarter of a second; a writer that keeps losing the race to a busy neighbour
waits hundreds of milliseconds (benchmark scenario 2: p99 0.8-1.7 s with two
nodes at 500 msg/s). Each process therefore takes an exclusive `flock` on
`<file>.lock` before it begins a write transaction and drops it after: the
waiter checks every `POLL_SECONDS` instead, and SQLite's busy handler is left
for writers that are not chatd (the sqlite3 shell, a backup).

Polled rather than a blocking flock so the wait stays bounded like SQLite's
(a wedged process fails writers with "database is locked" instead of hanging
them). A process that dies drops its lock with its file descriptors.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path
from types import TracebackType

from chatd.util.private_files import PRIVATE_FILE_MODE, tighten_file

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: SQLite's busy handler alone
    fcntl = None  # type: ignore[assignment]

#: How often a writer waiting for another process looks at the lock again.
POLL_SECONDS = 0.0005


class WriteLock:
    """An exclusive lock on `<path>.lock`, for use around one write transaction.

    Blocking calls: use them on the database thread, never the event loop.
    """

    def __init__(self, path: Path, timeout: float) -> None:
        self._path = path.with_name(path.name + ".lock")
        self._timeout = timeout
        self._fd: int | None = None

    def open(self) -> None:
        if fcntl is not None and self._fd is None:
            self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE_MODE)
            tighten_file(self._path)  # made looser by an older version

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def acquire(self) -> None:
        fd = self._fd
        if fd is None or fcntl is None:
            return
        deadline = time.monotonic() + self._timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    # What SQLite itself raises when its busy timeout runs out.
                    raise sqlite3.OperationalError(
                        f"database is locked (another process held {self._path.name} "
                        f"for {self._timeout:g} s)"
                    ) from None
                time.sleep(POLL_SECONDS)

    def release(self) -> None:
        if self._fd is not None and fcntl is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def __enter__(self) -> None:
        self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
