"""WAL checkpoints in the background, off the write path.

Under WAL, commits append pages to `<file>-wal`; a checkpoint copies them back
into the database file (and syncs both). By default SQLite runs one inside the
COMMIT that grows the log past 1,000 pages, so that commit takes milliseconds
instead of a tenth of one, and every append queued behind it waits too. At
1,000 appends/s that was one commit in ~60 at 4-5 ms: the p99 of message
delivery (benchmark scenario 3).

Here the writer's automatic checkpoint only backstops (`BACKSTOP_PAGES`), and a
connection of its own, on its own thread, runs PASSIVE checkpoints shortly
after writes. A PASSIVE checkpoint never waits for readers or writers: it copies
what it can while they go on, and the log restarts from its beginning once
everything in it is copied. Several processes on one file may each run one; a
checkpoint that finds another under way simply skips its turn.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import time
from pathlib import Path
from typing import Final

logger = logging.getLogger(__name__)

#: After a write, how long the checkpointer lets further writes gather before it
#: checkpoints. Measured at 1,000 appends/s (open-loop probe, 20 s): checkpoints
#: in commits gave append p99 6.3-8.5 ms; 5, 20 and 50 ms here 1.8, 1.9 and
#: 2.6 ms, at 18%, 3% and 5% more CPU than in commits; 0.1-1 s let the log
#: grow, and the commit that restarted it stalled for 10-35 ms.
CHECKPOINT_DELAY_SECONDS: Final = 0.02
#: The writer checkpoints by itself only if the log grows past this many pages
#: (~40 MiB at 4 KiB), i.e. if the background checkpoints stopped keeping up.
BACKSTOP_PAGES: Final = 10_000
#: The log file is cut back to this size when it restarts (a burst can grow it).
JOURNAL_SIZE_LIMIT_BYTES: Final = 64 * 1024 * 1024
#: After a failed checkpoint (disk full, say), the next try waits this long.
RETRY_SECONDS: Final = 1.0


class Checkpointer:
    """Checkpoints one SQLite file's write-ahead log shortly after writes.

    A plain thread with a connection of its own: `wrote()` (after each
    committed write transaction, from the event loop) costs one
    `threading.Event.set`, and the checkpoints never touch the event loop.
    `start()` starts the thread, `close()` stops it.
    """

    def __init__(self, path: Path, *, delay: float = CHECKPOINT_DELAY_SECONDS) -> None:
        self._path = path
        self._delay = delay
        self._dirty = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._run, name=f"sqlite-checkpoints:{self._path.name}", daemon=True
        )
        self._thread.start()

    def wrote(self) -> None:
        """A write transaction committed: checkpoint within the delay."""
        self._dirty.set()

    async def close(self) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stopping = True
        self._dirty.set()
        await asyncio.to_thread(thread.join)

    def _run(self) -> None:
        conn = sqlite3.connect(self._path, isolation_level=None)
        try:
            # `close()` sets `_stopping` before the event, so a clear below that
            # swallows its wake-up still ends the loop at the next check.
            while not self._stopping:
                self._dirty.wait()
                if self._stopping:
                    return
                time.sleep(self._delay)
                # Cleared before the checkpoint: a write committed while it runs
                # may have missed it and schedules the next.
                self._dirty.clear()
                try:
                    passive_checkpoint(conn)
                except sqlite3.Error as exc:
                    # The writer's backstop still bounds the log meanwhile.
                    logger.warning("wal checkpoint of %s failed: %s", self._path, exc)
                    time.sleep(RETRY_SECONDS)
        finally:
            conn.close()


def passive_checkpoint(conn: sqlite3.Connection) -> tuple[int, int, int]:
    """One PASSIVE checkpoint: (busy, pages in the log, pages copied)."""
    busy, log_pages, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    return int(busy), int(log_pages), int(copied)
