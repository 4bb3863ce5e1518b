"""The FileStore port: bytes of uploaded files, on local disk or S3."""

from chatd.files.base import FileStore, FileTooLarge, StoredFile

__all__ = ["FileStore", "FileTooLarge", "StoredFile"]
