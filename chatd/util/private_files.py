"""Owner-only modes for the data dir and everything chatd keeps in it.

The data dir holds the password hashes and every message (chatd.db and its
-wal/-shm), the token-signing secret and every uploaded file: files are
created 0600 and directories 0700. Each is given its mode where it is made,
never through the process umask, which would also decide for every library's
files. What chatd owns and finds looser (from an older version) is tightened;
a data dir that already exists is the operator's, so it is only warned about.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from pathlib import Path
from typing import Final

logger = logging.getLogger(__name__)

PRIVATE_DIR_MODE: Final = 0o700
PRIVATE_FILE_MODE: Final = 0o600
#: Any permission for the group or others.
_SHARED_BITS: Final = 0o077


def make_private_dirs(path: Path) -> None:
    """Create `path` and each missing parent 0700; existing ones are left alone."""
    missing = []
    while not path.exists():
        missing.append(path)
        path = path.parent
    for directory in reversed(missing):
        try:
            os.mkdir(directory, PRIVATE_DIR_MODE)
        except FileExistsError:
            continue  # another process made it meanwhile


def private_dir(path: Path) -> None:
    """A directory chatd owns (say `files/`): created 0700, or tightened to it."""
    make_private_dirs(path)
    _tighten(path, PRIVATE_DIR_MODE)


def private_file(path: Path) -> None:
    """A file chatd owns: created empty 0600 if missing, tightened to 0600 if looser."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE_MODE)
    os.close(fd)
    _tighten(path, PRIVATE_FILE_MODE)


def tighten_file(path: Path) -> None:
    """Tighten an existing file chatd owns to 0600; nothing if it does not exist."""
    with contextlib.suppress(FileNotFoundError):
        _tighten(path, PRIVATE_FILE_MODE)


def warn_if_shared(data_dir: Path) -> None:
    """Log a warning if an existing data dir lets the group or others in."""
    try:
        mode = stat.S_IMODE(data_dir.stat().st_mode)
    except FileNotFoundError:
        return  # every backend is external: chatd keeps nothing here
    if mode & _SHARED_BITS:
        logger.warning(
            "data dir %s is mode %04o: other users of this machine may read the database,"
            " secret key and files in it; chmod 700 %s",
            data_dir,
            mode,
            data_dir,
        )


def _tighten(path: Path, mode: int) -> None:
    current = stat.S_IMODE(path.stat().st_mode)
    if current & _SHARED_BITS:
        logger.info("tightening %s from mode %04o to %04o", path, current, mode)
        os.chmod(path, mode)
