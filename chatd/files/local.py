"""The embedded FileStore: files on local disk under the data directory."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import tempfile
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path
from typing import BinaryIO

from chatd.files.base import FileStore, FileStoreUnavailable, FileTooLarge, StoredFile
from chatd.util.disk import disk_failures, probe_writable
from chatd.util.private_files import make_private_dirs, private_dir

logger = logging.getLogger(__name__)

#: Uploads are written in slices of this size, so a stream of small network
#: chunks costs one thread hop per MiB rather than one per chunk, and memory
#: per upload stays bounded.
WRITE_BUFFER = 1024 * 1024

#: Read size when streaming a file back out: large enough to keep thread hops
#: rare, small enough that many concurrent downloads stay cheap.
READ_CHUNK = 256 * 1024

#: Prefix of in-progress uploads; chatd's keys never start with a dot.
_TEMP_PREFIX = ".upload-"


class LocalFileStore(FileStore):
    """Keeps each file at `<root>/<key>`, for single-node installs.

    An upload is streamed into a temporary file in the target directory and
    moved into place with `os.replace` only when complete, so a reader never
    sees half a file and a failed or oversized upload leaves nothing behind.
    Blocking file I/O runs in worker threads to keep the event loop free.
    A full disk raises `StorageFull`, a failing one `Unavailable` (chatd.disk).
    `download_url` is None: chatd serves the bytes itself, after checking
    that the reader may see them.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self._root = Path(os.path.abspath(root))

    async def start(self) -> None:
        """Create the root directory if needed; only chatd's user may enter it."""
        await asyncio.to_thread(private_dir, self._root)

    async def close(self) -> None:
        """Nothing to release; here for symmetry with the S3 adapter."""

    async def check(self) -> None:
        def usable() -> bool:
            return self._root.is_dir() and os.access(self._root, os.W_OK | os.X_OK)

        if not await asyncio.to_thread(usable):
            raise FileStoreUnavailable(f"file store at {self._root}: not a writable directory")
        # Permissions say nothing about free space: a full disk must fail readiness.
        await asyncio.to_thread(probe_writable, self._root, "files")

    def _path(self, key: str) -> Path:
        """The file of `key`, refusing any key that could point outside the root."""
        parts = key.split("/")
        if (
            not key
            or "\\" in key
            or "\0" in key
            or any(part in ("", ".", "..") or part.startswith(_TEMP_PREFIX) for part in parts)
        ):
            raise ValueError(f"unsafe file key {key!r}")
        path = self._root.joinpath(*parts)
        # Belt and braces over the checks above (they already rule out `..` and
        # absolute keys): the lexical result must stay below the root.
        if os.path.commonpath([self._root, path]) != str(self._root):
            raise ValueError(f"unsafe file key {key!r}")
        return path

    async def put(
        self, key: str, chunks: AsyncIterable[bytes], content_type: str, max_size: int
    ) -> StoredFile:
        path = self._path(key)
        with disk_failures("files", self._root):
            return await self._put(path, key, chunks, max_size)

    async def _put(
        self, path: Path, key: str, chunks: AsyncIterable[bytes], max_size: int
    ) -> StoredFile:
        await asyncio.to_thread(make_private_dirs, path.parent)
        # mkstemp creates the file 0600, and os.replace keeps its mode.
        fd, temp_name = await asyncio.to_thread(
            tempfile.mkstemp, prefix=_TEMP_PREFIX, suffix=".part", dir=path.parent
        )
        temp = Path(temp_name)
        out: BinaryIO = os.fdopen(fd, "wb")
        digest = hashlib.sha256()
        size = 0
        buffer = bytearray()
        try:
            async for chunk in chunks:
                size += len(chunk)
                if size > max_size:
                    raise FileTooLarge(max_size)
                digest.update(chunk)
                buffer += chunk
                if len(buffer) >= WRITE_BUFFER:
                    await asyncio.to_thread(out.write, bytes(buffer))
                    buffer.clear()
            await asyncio.to_thread(_finish, out, bytes(buffer))
            await asyncio.to_thread(_move_into_place, temp, path)
        except BaseException:
            # Synchronous on purpose: this must also run when the upload task
            # is being cancelled, and closing/unlinking are quick metadata calls.
            _discard(out, temp)
            raise
        return StoredFile(key=key, size=size, sha256=digest.hexdigest())

    async def open(
        self, key: str, *, offset: int = 0, length: int | None = None
    ) -> AsyncIterator[bytes]:
        path = self._path(key)
        with disk_failures("files", self._root):
            source = await asyncio.to_thread(path.open, "rb")
        try:
            if offset:
                await asyncio.to_thread(source.seek, offset)
            left = length
            while left is None or left > 0:
                size = READ_CHUNK if left is None else min(READ_CHUNK, left)
                with disk_failures("files", self._root):
                    chunk = await asyncio.to_thread(source.read, size)
                if not chunk:
                    break
                if left is not None:
                    left -= len(chunk)
                yield chunk
        finally:
            source.close()

    async def size(self, key: str) -> int | None:
        path = self._path(key)
        try:
            with disk_failures("files", self._root):
                return (await asyncio.to_thread(path.stat)).st_size
        except FileNotFoundError:
            return None

    async def delete(self, key: str) -> None:
        path = self._path(key)
        with disk_failures("files", self._root):
            await asyncio.to_thread(path.unlink, missing_ok=True)

    async def download_url(
        self, key: str, *, filename: str, content_type: str, inline: bool, expires: int
    ) -> str | None:
        return None


def _finish(out: BinaryIO, tail: bytes) -> None:
    """Write the last bytes and make the file durable before it is renamed into place."""
    try:
        out.write(tail)
        out.flush()
        os.fsync(out.fileno())
    finally:
        out.close()


def _move_into_place(temp: Path, path: Path) -> None:
    """Atomically rename, then sync the directory so the new name survives a crash."""
    os.replace(temp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _discard(out: BinaryIO, temp: Path) -> None:
    """Drop a failed upload's temporary file."""
    out.close()
    temp.unlink(missing_ok=True)
