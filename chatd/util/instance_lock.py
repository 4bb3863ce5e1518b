"""One embedded server per data dir.

With the embedded broker a message goes live only to the sockets of the process
that stored it: a second server on the same data dir would share the SQLite file
but neither would see the other's live messages, presence or typing. The server
therefore holds an exclusive `flock` on `<data dir>/server.lock` for its whole
life, and a second one refuses to start. The kernel drops the lock with the
process, so a crash (kill -9) never leaves it stale. With REDIS_URL the nodes
share the broker and several may share one SQLite file: no lock then.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from chatd.util.private_files import PRIVATE_FILE_MODE, make_private_dirs

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no lock, as before
    fcntl = None  # type: ignore[assignment]

LOCK_FILE_NAME = "server.lock"


class DataDirInUse(Exception):
    """Another server holds the data dir; `str()` is one line naming it."""


@contextmanager
def hold_data_dir(data_dir: Path) -> Iterator[None]:
    """Hold `data_dir` for this process while the body runs; DataDirInUse if taken.

    OSError if the data dir cannot be made or the lock file opened (a file where
    the directory should be, no permission).
    """
    make_private_dirs(data_dir)
    path = data_dir / LOCK_FILE_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE_MODE)
    try:
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise DataDirInUse(
                    f"the data dir {data_dir} is in use by another chatd server (it holds"
                    f" {path}); without REDIS_URL only one server may use a data dir"
                ) from None
        yield
    finally:
        os.close(fd)
