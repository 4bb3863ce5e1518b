"""`chatd backup DIR` and `chatd restore DIR`: the embedded store, files and secret.

A backup is a directory: `chatd.db` (a consistent copy of the database),
`files/` (the uploaded files), `secret_key` (when the data dir keeps one) and
`manifest.json`, written last, so a directory without it is a backup that did
not finish and is refused by restore.

The database is copied with SQLite's online backup API from a connection of
its own, in one step: one read transaction, so the copy is the database as of
one commit, while the server's writers carry on (WAL lets them). Stepping the
copy instead would restart it whenever the server commits meanwhile, and under
steady traffic never finish. Files are copied after the database: an upload is
stored before the message that refers to it is committed, so every file the
copy refers to was on disk before the copy began. (A file deleted with its
message while the backup runs may be missing from it; its message is still in
the copy, and its download answers 404 after a restore.)

Restore refuses while any process has the database open (a running server):
it switches the file out of WAL mode with no busy wait, which SQLite allows
only to the database's sole user, and holds the data dir's server lock
(`<data dir>/server.lock`, chatd/util/instance_lock.py) meanwhile. It then
swaps the database, files and secret for the backup's and gives the store a
new epoch (Store.new_epoch), so clients drop the seqs they saw before the
restore instead of new messages.

MongoDB and S3 deployments use their own tools (docs/backup.md).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import sqlite3
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from chatd import __version__
from chatd.settings import SECRET_FILE_NAME, Settings
from chatd.store.factory import store_epoch
from chatd.store.sqlite import BUSY_TIMEOUT_MS, SCHEMA_VERSION
from chatd.util.instance_lock import DataDirInUse, hold_data_dir
from chatd.util.private_files import PRIVATE_FILE_MODE, make_private_dirs, private_dir
from chatd.wiring.lifecycle import error_line

MANIFEST_NAME: Final = "manifest.json"
DATABASE_NAME: Final = "chatd.db"
FILES_NAME: Final = "files"
#: Bumped when the layout of a backup directory changes incompatibly.
BACKUP_FORMAT: Final = 1
#: Prefix of uploads still being written (chatd/files/local.py): never a file
#: a message refers to, so not worth keeping.
_UPLOAD_IN_PROGRESS: Final = ".upload-"


class BackupError(Exception):
    """Why a backup or restore cannot be done, in one line for the operator."""


@dataclass(frozen=True, slots=True)
class Manifest:
    chatd_version: str
    schema_version: int
    epoch: str
    created_at: str
    files: int
    secret_key: bool

    @classmethod
    def read(cls, source: Path) -> Manifest:
        path = source / MANIFEST_NAME
        try:
            raw: Any = json.loads(path.read_text())
            if raw.get("format") != BACKUP_FORMAT:
                raise BackupError(f"{path} has format {raw.get('format')!r}, not {BACKUP_FORMAT}")
            return cls(
                chatd_version=str(raw["chatd_version"]),
                schema_version=int(raw["schema_version"]),
                epoch=str(raw["epoch"]),
                created_at=str(raw["created_at"]),
                files=int(raw["files"]),
                secret_key=bool(raw["secret_key"]),
            )
        except FileNotFoundError:
            raise BackupError(f"{source} is no finished backup (no {MANIFEST_NAME})") from None
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise BackupError(f"{path} is damaged: {exc}") from None

    def write(self, target: Path) -> None:
        fields = {"format": BACKUP_FORMAT, **asdict(self)}
        _write_private(target / MANIFEST_NAME, json.dumps(fields, indent=2) + "\n")


def _embedded_only(settings: Settings, command: str) -> None:
    if settings.mongodb_uri is not None or settings.s3_bucket is not None:
        raise BackupError(
            f"{command} covers the embedded store and files only; with MONGODB_URI or"
            " S3_BUCKET use mongodump and the bucket's versioning (docs/backup.md)"
        )


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE_MODE)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def _copy_database(source: Path, target: Path) -> tuple[int, str]:
    """Copy the live database at `source` to `target`; its (schema version, epoch)."""
    # A URI so a missing file is an error rather than a new empty database.
    src = sqlite3.connect(f"file:{source}?mode=rw", uri=True, timeout=BUSY_TIMEOUT_MS / 1000)
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
        os.close(fd)
        dst = sqlite3.connect(target)
        try:
            # pages=-1: all in one step, so one snapshot (see the module doc).
            src.backup(dst, pages=-1)
            version = int(dst.execute("PRAGMA user_version").fetchone()[0])
            row = dst.execute("SELECT value FROM store_meta WHERE key = 'epoch'").fetchone()
        finally:
            dst.close()
    finally:
        src.close()
    return version, str(row[0])


def _files_under(root: Path) -> Iterator[Path]:
    for directory, _, names in os.walk(root):
        for name in names:
            if not name.startswith(_UPLOAD_IN_PROGRESS):
                yield Path(directory, name).relative_to(root)


def _copy_files(source: Path, target: Path) -> int:
    """Copy every stored file; returns how many."""
    private_dir(target)
    copied = 0
    for relative in _files_under(source) if source.is_dir() else ():
        make_private_dirs((target / relative).parent)
        # Deleted (with its message) since the walk listed it: nothing to keep.
        with contextlib.suppress(FileNotFoundError):
            shutil.copy2(source / relative, target / relative)
            copied += 1
    return copied


def backup(settings: Settings, target: Path) -> str:
    """Write a backup of the embedded data dir to `target` (new or empty)."""
    _embedded_only(settings, "chatd backup")
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise BackupError(f"{target} exists and is not empty; back up into a new directory")
    if not settings.sqlite_path.is_file():
        raise BackupError(f"no store at {settings.sqlite_path} (check CHATD_DATA_DIR)")
    private_dir(target)
    version, epoch = _copy_database(settings.sqlite_path, target / DATABASE_NAME)
    # After the database (see the module doc for why this order).
    files = _copy_files(settings.files_dir, target / FILES_NAME)
    secret = settings.data_dir / SECRET_FILE_NAME
    if secret.is_file():
        _write_private(target / SECRET_FILE_NAME, secret.read_text())
    manifest = Manifest(
        chatd_version=__version__,
        schema_version=version,
        epoch=epoch,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        files=files,
        secret_key=secret.is_file(),
    )
    manifest.write(target)
    return (
        f"backed up {settings.data_dir} to {target}"
        f" (schema version {version}, epoch {epoch}, {files} files)"
    )


@contextlib.contextmanager
def _data_dir_locked(data_dir: Path) -> Iterator[None]:
    """Hold the data dir as a server does (chatd.util.instance_lock), or raise
    BackupError if a server (or another restore) holds it."""
    try:
        with hold_data_dir(data_dir):
            yield
    except DataDirInUse:
        raise BackupError(_in_use(data_dir)) from None


def _in_use(data_dir: Path) -> str:
    return f"a chatd process is using {data_dir}; stop every server on it first"


def _refuse_if_open(database: Path) -> None:
    """Raise BackupError if any process has `database` open.

    Leaving WAL mode needs the database's only connection: with another one
    open (a server's), SQLite answers "database is locked" at once (no busy
    wait). The switch also folds the WAL into the file, which is about to be
    replaced anyway.
    """
    if not database.exists():
        return
    db = sqlite3.connect(database, timeout=0)
    try:
        db.execute("PRAGMA journal_mode = DELETE")
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            raise BackupError(_in_use(database.parent)) from None
        raise BackupError(f"cannot open {database}: {exc}") from None
    finally:
        db.close()


def _swap_in(staged: Path, live: Path) -> None:
    """Put `staged` where `live` is, keeping nothing of the old one."""
    old = live.with_name(live.name + ".old")
    if old.exists():
        shutil.rmtree(old) if old.is_dir() else old.unlink()
    if live.exists():
        live.rename(old)
    staged.rename(live)
    if old.exists():
        shutil.rmtree(old) if old.is_dir() else old.unlink()


def restore(settings: Settings, source: Path) -> str:
    """Replace the data dir's database, files and secret with the backup at `source`."""
    _embedded_only(settings, "chatd restore")
    manifest = Manifest.read(source)
    if manifest.schema_version > SCHEMA_VERSION:
        raise BackupError(
            f"{source} is of schema version {manifest.schema_version}, newer than this chatd"
            f" knows ({SCHEMA_VERSION}); upgrade chatd"
        )
    if not (source / DATABASE_NAME).is_file():
        raise BackupError(f"{source} has no {DATABASE_NAME}")
    data_dir, database = settings.data_dir, settings.sqlite_path
    with _data_dir_locked(data_dir):
        _refuse_if_open(database)
        # Staged next to their places first, so a failure (a full disk) leaves
        # the data dir as it was; then each is renamed into place.
        staged_db = database.with_name(database.name + ".restoring")
        staged_db.unlink(missing_ok=True)
        shutil.copyfile(source / DATABASE_NAME, staged_db)
        os.chmod(staged_db, PRIVATE_FILE_MODE)
        staged_files = settings.files_dir.with_name(settings.files_dir.name + ".restoring")
        if staged_files.exists():
            shutil.rmtree(staged_files)
        _copy_files(source / FILES_NAME, staged_files)
        # The old database's WAL must never be applied to the restored file.
        for suffix in ("-wal", "-shm"):
            database.with_name(database.name + suffix).unlink(missing_ok=True)
        os.replace(staged_db, database)
        _swap_in(staged_files, settings.files_dir)
        if manifest.secret_key:
            staged_secret = data_dir / (SECRET_FILE_NAME + ".restoring")
            _write_private(staged_secret, (source / SECRET_FILE_NAME).read_text())
            os.replace(staged_secret, data_dir / SECRET_FILE_NAME)
        # Opening migrates a backup of an older chatd, as a start would.
        epoch = asyncio.run(store_epoch(settings, renew=True))
    return f"restored {source} (taken {manifest.created_at}) into {data_dir}; new epoch {epoch}"


# -- the commands --------------------------------------------------------------
def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `backup`, `restore` and `epoch` on chatd's subcommand parser."""
    made = commands.add_parser(
        "backup",
        help="back up the embedded store, files and secret into DIR while the server runs",
        description="Write a consistent backup of CHATD_DATA_DIR to DIR (new or empty).",
    )
    made.add_argument("dir", type=Path, metavar="DIR")
    put = commands.add_parser(
        "restore",
        help="replace the data dir with the backup in DIR (servers stopped); new epoch",
        description=(
            "Replace CHATD_DATA_DIR's database, files and secret with the backup in DIR"
            " and give the store a new epoch. Refused while a server uses the data dir."
        ),
    )
    put.add_argument("dir", type=Path, metavar="DIR")
    epoch = commands.add_parser(
        "epoch",
        help="print the store's epoch; --new replaces it (after a MongoDB restore)",
        description=(
            "Print the configured store's epoch. With --new, replace it first: run it"
            " after restoring a MongoDB backup, with every node stopped (docs/backup.md)."
        ),
    )
    epoch.add_argument("--new", action="store_true", help="replace the epoch with a new one")


#: The subcommands this module runs, for chatd/cli.py.
COMMANDS: Final = frozenset({"backup", "restore", "epoch"})


def run_command(args: argparse.Namespace, settings: Settings) -> int:
    """Run one of COMMANDS: one line on stdout and 0, or one line on stderr and 2."""
    try:
        if args.command == "backup":
            line = backup(settings, args.dir)
        elif args.command == "restore":
            line = restore(settings, args.dir)
        else:
            line = asyncio.run(store_epoch(settings, renew=args.new))
    except Exception as exc:
        # Whatever stopped it (a running server, a full disk, a damaged
        # backup), an operator's script gets one line and a failure.
        print(f"chatd {args.command}: failed: {error_line(exc)}", file=sys.stderr)
        return 2
    print(f"chatd {args.command}: {line}", flush=True)
    return 0

