"""Taking one uploaded file in: sniff its type, stream it to the FileStore, preview it.

The bytes flow from the request straight into `FileStore.put` (which enforces
the size limit and keeps nothing past it). Only images that get a preview are
also copied to an anonymous temporary file on the way, because Pillow needs a
seekable file to decode; that copy disappears as soon as the preview is made.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from collections.abc import AsyncIterator, Iterable
from typing import IO

from chatd.files.base import FileStore
from chatd.files.kinds import PREVIEW_TYPES, SNIFF_BYTES, sniff
from chatd.files.names import display_name, thumbnail_key
from chatd.files.previews import Previewer
from chatd.models import Attachment

logger = logging.getLogger(__name__)

#: Spooled image bytes are written in slices this big: one thread hop per MiB.
SPOOL_BUFFER = 1024 * 1024


class EmptyFile(Exception):
    """The upload had no bytes."""


class FileIntake:
    """Stores uploads under keys the caller generated; one instance per app."""

    def __init__(self, files: FileStore, previewer: Previewer, max_size: int) -> None:
        self._files = files
        self._previewer = previewer
        self.max_size = max_size
        #: Clean-ups still running; held so they finish even if their request died.
        self._cleanups: set[asyncio.Task[None]] = set()

    async def discard(self, keys: Iterable[str | None]) -> None:
        """Delete the stored objects of a failed upload, even while its request is cancelled.

        The deletions run in their own task, shielded, so a client that hangs
        up mid-upload leaves no orphaned objects behind.
        """
        wanted = [key for key in keys if key]
        if not wanted:
            return
        task = asyncio.create_task(self._delete_all(wanted))
        self._cleanups.add(task)
        task.add_done_callback(self._cleanups.discard)
        await asyncio.shield(task)

    async def close(self) -> None:
        """Let clean-ups still running finish (app shutdown)."""
        if self._cleanups:
            await asyncio.gather(*self._cleanups, return_exceptions=True)

    async def _delete_all(self, keys: list[str]) -> None:
        for key in keys:
            try:
                await self._files.delete(key)
            except Exception:
                logger.exception("could not delete %s after a failed upload", key)

    async def receive(
        self, key: str, raw_name: str | None, chunks: AsyncIterator[bytes]
    ) -> Attachment:
        """Store one file's stream under `key` and describe it.

        Raises EmptyFile or FileTooLarge (nothing kept) and lets store errors
        through; on any failure whatever this call stored is deleted again.
        """
        head = await _read_head(chunks)
        if not head:
            raise EmptyFile
        content_type = sniff(head)
        spool = await _Spool.create() if content_type in PREVIEW_TYPES else None
        try:
            stored = await self._files.put(
                key, _tee(head, chunks, spool), content_type, self.max_size
            )
            attachment = Attachment(
                key=key, name=display_name(raw_name), size=stored.size, content_type=content_type
            )
            if spool is None:
                return attachment
            try:
                return await self._add_preview(attachment, spool)
            except BaseException:
                await self.discard([key])
                raise
        finally:
            if spool is not None:
                spool.close()

    async def _add_preview(self, attachment: Attachment, spool: _Spool) -> Attachment:
        preview = await self._previewer.preview(spool.file, attachment.content_type)
        if preview is None:
            return attachment
        thumb = thumbnail_key(attachment.key, preview.thumbnail_type)
        await self._files.put(
            thumb, _once(preview.thumbnail), preview.thumbnail_type, len(preview.thumbnail)
        )
        return Attachment(
            key=attachment.key,
            name=attachment.name,
            size=attachment.size,
            content_type=attachment.content_type,
            width=preview.width,
            height=preview.height,
            thumbnail_key=thumb,
        )


async def _read_head(chunks: AsyncIterator[bytes]) -> bytes:
    """At least SNIFF_BYTES (or the whole file if shorter) from the start of the stream."""
    head = bytearray()
    while len(head) < SNIFF_BYTES:
        chunk = await anext(chunks, None)
        if chunk is None:
            break
        head += chunk
    return bytes(head)


async def _tee(
    head: bytes, rest: AsyncIterator[bytes], spool: _Spool | None
) -> AsyncIterator[bytes]:
    """The whole stream again (head first), copied into `spool` when there is one."""
    if spool is not None:
        await spool.write(head)
    yield head
    async for chunk in rest:
        if spool is not None:
            await spool.write(chunk)
        yield chunk
    if spool is not None:
        await spool.flush()


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


class _Spool:
    """An anonymous temporary file (unlinked at creation, gone when closed)."""

    def __init__(self, file: IO[bytes]) -> None:
        self.file = file
        self._buffer = bytearray()

    @classmethod
    async def create(cls) -> _Spool:
        return cls(await asyncio.to_thread(tempfile.TemporaryFile))

    async def write(self, chunk: bytes) -> None:
        self._buffer += chunk
        if len(self._buffer) >= SPOOL_BUFFER:
            await self.flush()

    async def flush(self) -> None:
        if self._buffer:
            data = bytes(self._buffer)
            self._buffer.clear()
            await asyncio.to_thread(self.file.write, data)

    def close(self) -> None:
        # Synchronous on purpose: it must also run while the upload is cancelled.
        self.file.close()
