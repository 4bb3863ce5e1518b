"""Local-disk failures in port terms, for the adapters that keep data on disk.

The SQLite store and the local file store both live in the data directory; both
report a full disk as `StorageFull` and a disk that fails or went read-only as
`Unavailable`, and both let /readyz prove that the directory still takes writes.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Final

from chatd.errors import StorageFull, Unavailable

#: errno values that mean "no room left": the disk, or the user's quota.
FULL_ERRNOS: Final = frozenset({errno.ENOSPC, errno.EDQUOT})
#: errno values that mean the disk itself is failing or was made read-only.
DOWN_ERRNOS: Final = frozenset({errno.EIO, errno.EROFS, errno.ENXIO, errno.ESTALE})

#: What /readyz writes to prove the directory takes writes: one filesystem block,
#: so a disk that still has a few bytes but no block free reports full.
PROBE_BYTES: Final = 4096


def disk_failure(exc: OSError, backend: str, where: Path) -> StorageFull | Unavailable | None:
    """The port exception for an OSError from the disk, or None if it is not an outage."""
    if exc.errno in FULL_ERRNOS:
        return StorageFull(backend, f"{where}: disk full ({exc.strerror})")
    if exc.errno in DOWN_ERRNOS:
        return Unavailable(backend, f"{where}: {exc.strerror}")
    return None


@contextmanager
def disk_failures(backend: str, where: Path) -> Iterator[None]:
    """Raise the port exception for a full or failing disk inside the block."""
    try:
        yield
    except OSError as exc:
        failure = disk_failure(exc, backend, where)
        if failure is None:
            raise
        raise failure from exc


def probe_writable(directory: Path, backend: str) -> None:
    """Write and remove a small file in `directory`; raise StorageFull/Unavailable if refused.

    Not fsynced: /readyz is polled often, and the write already needs a free
    block. The name carries the pid so processes sharing the directory never
    remove each other's probe.
    """
    probe = directory / f".write-probe-{os.getpid()}"
    try:
        with disk_failures(backend, directory):
            fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.write(fd, bytes(PROBE_BYTES))
            finally:
                os.close(fd)
    finally:
        with suppress(OSError):  # a failing disk may refuse this too; the cause is raised
            probe.unlink(missing_ok=True)
