"""SQLite failures in port terms: a full disk is StorageFull, a stuck or failing file Unavailable.

Only failures of the file itself are translated; a constraint violation or a
bug (a bad statement) stays what it is, so callers keep their own handling.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

from chatd.errors import StorageFull, Unavailable
from chatd.util.disk import disk_failure

# Primary result codes (https://sqlite.org/rescode.html); extended codes carry
# the primary one in their low byte.
_SQLITE_BUSY: Final = 5
_SQLITE_LOCKED: Final = 6
_SQLITE_READONLY: Final = 8
_SQLITE_IOERR: Final = 10
_SQLITE_FULL: Final = 13
_SQLITE_CANTOPEN: Final = 14
_SQLITE_PROTOCOL: Final = 15

#: The file cannot be used right now: another process holds the write lock past
#: the busy timeout, the disk fails or went read-only, the file vanished. (A
#: corrupt file is not among them: no retry mends it, so it stays loud.)
_DOWN_CODES: Final = frozenset(
    {
        _SQLITE_BUSY,
        _SQLITE_LOCKED,
        _SQLITE_READONLY,
        _SQLITE_IOERR,
        _SQLITE_CANTOPEN,
        _SQLITE_PROTOCOL,
    }
)


def sqlite_failure(exc: BaseException, path: Path) -> StorageFull | Unavailable | None:
    """The port exception for a failure of the SQLite file at `path`, else None."""
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        if code is None:
            # Raised by the sqlite3 module itself (e.g. our own "database is
            # locked" from the cross-process lock), not by the library.
            if "database is locked" in str(exc):
                return Unavailable("store", f"sqlite {path}: database is locked")
            return None
        primary = code & 0xFF
        if primary == _SQLITE_FULL:
            return StorageFull("store", f"sqlite {path}: database or disk is full")
        if primary in _DOWN_CODES:
            return Unavailable("store", f"sqlite {path}: {exc}")
        return None
    if isinstance(exc, OSError):  # the cross-process lock file
        return disk_failure(exc, "store", path)
    return None


@contextmanager
def sqlite_failures(path: Path) -> Iterator[None]:
    """Raise StorageFull/Unavailable for a failure of the file inside the block."""
    try:
        yield
    except (sqlite3.Error, OSError) as exc:
        failure = sqlite_failure(exc, path)
        if failure is None:
            raise
        raise failure from exc
