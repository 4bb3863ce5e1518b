"""The production FileStore: objects in an S3 bucket (AWS, MinIO, Ceph...) via aiobotocore."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import socket
from collections.abc import AsyncIterable, AsyncIterator, Iterator
from contextlib import AsyncExitStack, contextmanager
from typing import Any, cast

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import BotoCoreError, ClientError

from chatd.errors import StorageFull
from chatd.files.base import (
    FileStore,
    FileStoreUnavailable,
    FileTooLarge,
    StoredFile,
    content_disposition,
)
from chatd.settings import SettingsError

logger = logging.getLogger(__name__)

#: Uploads up to this size go up in one PUT; larger ones as a multipart upload
#: of parts this big, so memory per upload stays at about one part however
#: large the file. (S3 requires parts of at least 5 MiB, except the last.)
PART_SIZE = 8 * 1024 * 1024

#: Read size when streaming an object back out.
READ_CHUNK = 256 * 1024

#: The longest a presigned URL may live in S3 (SigV4): seven days.
MAX_PRESIGN_EXPIRES = 7 * 24 * 3600

#: A health check that takes longer than this is reported as a failure.
CHECK_TIMEOUT = 5.0

_MISSING = {"404", "NoSuchKey", "NotFound"}
#: Error codes of a service that cannot take the request right now.
_NOT_SERVING = {"500", "503", "InternalError", "ServiceUnavailable", "SlowDown", "RequestTimeout"}
#: Error codes of a backend out of space (MinIO, Ceph RGW); AWS itself has no such limit.
_FULL = {"XMinioStorageFull", "QuotaExceeded", "InsufficientCapacity"}


@contextmanager
def _s3_failures(bucket: str) -> Iterator[None]:
    """Raise FileStoreUnavailable/StorageFull for an unreachable or full S3 inside the block."""
    try:
        yield
    except ClientError as exc:
        code = _code(exc)
        if code in _FULL:
            raise StorageFull("files", f"s3 bucket {bucket!r}: {_reason(exc)}") from exc
        if code in _NOT_SERVING:
            raise FileStoreUnavailable(f"s3 bucket {bucket!r}: {_reason(exc)}") from exc
        raise
    except FileNotFoundError:  # a missing key, as the port reports it: not an outage
        raise
    except (BotoCoreError, OSError, TimeoutError) as exc:
        # Endpoint unreachable, connect or read timeouts, connections dropped.
        raise FileStoreUnavailable(f"s3 bucket {bucket!r}: {_reason(exc)}") from exc


class BucketMissing(SettingsError):
    """S3 answers that the configured bucket does not exist: a configuration
    error, reported like one (a single line naming the variable and the fix)."""

    def __init__(self, bucket: str, endpoint_url: str | None) -> None:
        super().__init__(
            "S3_BUCKET",
            f"bucket {bucket!r} does not exist at {endpoint_url or 'AWS'}; "
            "create it, or set S3_CREATE_BUCKET=true to have chatd create it at start-up",
        )


class S3FileStore(FileStore):
    """Keeps each file as the object `<key>` in one bucket, shared by every node.

    Uploads stream: below `PART_SIZE` one `put_object`, above it a multipart
    upload that is aborted on any failure (including FileTooLarge), so no
    partial object or dangling upload is left to pay for. Downloads go
    straight from S3 to the browser through short-lived presigned URLs that
    carry the file's name and type, signed for `public_endpoint_url` when
    browsers reach S3 at another origin than chatd does (`http://minio:9000`
    inside a Compose network is no address for a browser). The bucket is
    created by the operator, or by `prepare_bucket(create=True)` at start-up.
    """

    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str | None = None,
        public_endpoint_url: str | None = None,
        region: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        part_size: int = PART_SIZE,
    ) -> None:
        self._bucket = bucket
        self._endpoint_url = endpoint_url
        self._public_endpoint_url = public_endpoint_url
        self._region = region or "us-east-1"
        self._access_key_id = access_key_id
        self._secret_access_key = secret_access_key
        self._part_size = part_size
        self._stack: AsyncExitStack | None = None
        self._client_: Any = None
        self._probe: Any = None
        self._presigner: Any = None

    # -- lifecycle -------------------------------------------------------------
    async def start(self) -> None:
        """Open the S3 clients (no request is made: a missing bucket shows in check())."""
        session = get_session()
        stack = AsyncExitStack()
        try:
            self._client_ = await stack.enter_async_context(
                session.create_client("s3", **self._client_args(attempts=3, read=30))
            )
            # Health checks get their own client that never retries, so /readyz
            # answers at once when S3 is down instead of after several back-offs.
            self._probe = await stack.enter_async_context(
                session.create_client("s3", **self._client_args(attempts=1, read=5))
            )
            # SigV4 signs the Host header, so a URL for another origin cannot be
            # made by rewriting one: it is signed by a client of that origin
            # (presigning makes no request, so this client never connects).
            self._presigner = self._client_
            if self._public_endpoint_url is not None:
                self._presigner = await stack.enter_async_context(
                    session.create_client(
                        "s3",
                        **self._client_args(
                            attempts=1, read=5, endpoint_url=self._public_endpoint_url
                        ),
                    )
                )
        except BaseException:
            await stack.aclose()
            raise
        self._stack = stack

    def _client_args(
        self, *, attempts: int, read: float, endpoint_url: str | None = None
    ) -> dict[str, Any]:
        endpoint_url = endpoint_url or self._endpoint_url
        return {
            "endpoint_url": endpoint_url,
            "region_name": self._region,
            "aws_access_key_id": self._access_key_id,
            "aws_secret_access_key": self._secret_access_key,
            "config": self._config(attempts=attempts, read=read, endpoint_url=endpoint_url),
        }

    @staticmethod
    def _config(*, attempts: int, read: float, endpoint_url: str | None) -> AioConfig:
        return AioConfig(
            # Connecting takes milliseconds when S3 is healthy; past this it is down.
            connect_timeout=5,
            read_timeout=read,
            retries={"max_attempts": attempts, "mode": "standard"},
            signature_version="s3v4",
            # Custom endpoints (MinIO, Ceph, moto) generally need path-style
            # URLs; AWS itself is left to pick.
            s3={"addressing_style": "path" if endpoint_url else "auto"},
            # Checksums only where S3 demands them: several S3-compatible servers
            # reject the newer default trailing checksums, and chatd computes its
            # own sha256 anyway.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )

    async def close(self) -> None:
        stack, self._stack, self._client_, self._probe = self._stack, None, None, None
        self._presigner = None
        if stack is not None:
            await stack.aclose()

    @property
    def _client(self) -> Any:
        if self._client_ is None:
            raise RuntimeError("S3FileStore used before start()")
        return self._client_

    async def check(self) -> None:
        try:
            if self._probe is None:
                raise RuntimeError("S3FileStore used before start()")
            async with asyncio.timeout(CHECK_TIMEOUT):
                await self._probe.head_bucket(Bucket=self._bucket)
        except (ClientError, BotoCoreError, OSError, TimeoutError) as exc:
            raise FileStoreUnavailable(
                f"s3 bucket {self._bucket!r} at {self._endpoint_url or 'AWS'}: {_reason(exc)}"
            ) from exc

    async def prepare_bucket(self, *, create: bool) -> None:
        """At start-up: make sure the bucket exists, creating it when `create` is set.

        A bucket S3 says is missing stops start-up with BucketMissing (every
        upload would fail); S3 not answering does not, since chatd reconnects
        by itself and /readyz reports it meanwhile.
        """
        if self._probe is None:
            raise RuntimeError("S3FileStore used before start()")
        try:
            with _s3_failures(self._bucket):
                await self._probe.head_bucket(Bucket=self._bucket)
            return
        except FileStoreUnavailable as exc:
            logger.warning("cannot check the S3 bucket now: %s", exc)
            return
        except ClientError as exc:
            if _code(exc) not in _MISSING | {"NoSuchBucket"}:
                raise
        if not create:
            raise BucketMissing(self._bucket, self._endpoint_url)
        await self.ensure_bucket()
        logger.info("files: created S3 bucket %s", self._bucket)

    async def ensure_bucket(self) -> None:
        """Create the bucket if it does not exist (a bucket made this way has S3's
        default policies; provision it yourself for anything more)."""
        try:
            await self._client.head_bucket(Bucket=self._bucket)
            return
        except ClientError as exc:
            if _code(exc) not in _MISSING | {"NoSuchBucket"}:
                raise
        options: dict[str, Any] = {}
        if self._region != "us-east-1":  # S3 refuses an explicit us-east-1 constraint
            options["CreateBucketConfiguration"] = {"LocationConstraint": self._region}
        await self._client.create_bucket(Bucket=self._bucket, **options)

    # -- objects ---------------------------------------------------------------
    async def put(
        self, key: str, chunks: AsyncIterable[bytes], content_type: str, max_size: int
    ) -> StoredFile:
        digest = hashlib.sha256()
        size = 0
        buffer = bytearray()
        upload = _Multipart(self._client, self._bucket, key, content_type)
        try:
            async for chunk in chunks:
                size += len(chunk)
                if size > max_size:
                    raise FileTooLarge(max_size)
                digest.update(chunk)
                buffer += chunk
                while len(buffer) >= self._part_size:
                    part = bytes(buffer[: self._part_size])
                    del buffer[: self._part_size]
                    await upload.add_part(part)
            if upload.started:
                if buffer:
                    await upload.add_part(bytes(buffer))
                await upload.complete()
            else:
                # Only S3's own calls are translated: the upload's stream failing
                # (the client went away) is not an outage of S3.
                with _s3_failures(self._bucket):
                    await self._client.put_object(
                        Bucket=self._bucket, Key=key, Body=bytes(buffer), ContentType=content_type
                    )
        except BaseException:
            await upload.abort()
            raise
        return StoredFile(key=key, size=size, sha256=digest.hexdigest())

    async def open(
        self, key: str, *, offset: int = 0, length: int | None = None
    ) -> AsyncIterator[bytes]:
        if length == 0:  # S3 has no empty range; still say whether the key exists
            if await self.size(key) is None:
                raise FileNotFoundError(key)
            return
        options: dict[str, str] = {}
        if offset or length is not None:
            last = "" if length is None else str(offset + length - 1)
            options["Range"] = f"bytes={offset}-{last}"
        with _s3_failures(self._bucket):
            try:
                response = await self._client.get_object(Bucket=self._bucket, Key=key, **options)
            except ClientError as exc:
                if _code(exc) in _MISSING:
                    raise FileNotFoundError(key) from exc
                if _code(exc) == "InvalidRange":  # offset at or past the end: no bytes
                    return
                raise
        async with response["Body"] as body:
            while True:
                with _s3_failures(self._bucket):
                    chunk = await body.read(READ_CHUNK)
                if not chunk:
                    break
                yield cast(bytes, chunk)

    async def size(self, key: str) -> int | None:
        try:
            with _s3_failures(self._bucket):
                head = await self._client.head_object(Bucket=self._bucket, Key=key)
        except ClientError as exc:
            if _code(exc) in _MISSING:
                return None
            raise
        return int(head["ContentLength"])

    async def delete(self, key: str) -> None:
        # S3 answers 204 for a missing key too.
        with _s3_failures(self._bucket):
            await self._client.delete_object(Bucket=self._bucket, Key=key)

    async def download_url(
        self, key: str, *, filename: str, content_type: str, inline: bool, expires: int
    ) -> str | None:
        """A presigned GET that makes S3 answer with the file's own name and type."""
        if self._presigner is None:
            raise RuntimeError("S3FileStore used before start()")
        url = await self._presigner.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self._bucket,
                "Key": key,
                "ResponseContentDisposition": content_disposition(filename, inline=inline),
                "ResponseContentType": content_type,
            },
            ExpiresIn=max(1, min(expires, MAX_PRESIGN_EXPIRES)),
        )
        return cast(str, url)


class _Multipart:
    """One multipart upload, started lazily with the first part."""

    def __init__(self, client: Any, bucket: str, key: str, content_type: str) -> None:
        self._client = client
        self._bucket = bucket
        self._key = key
        self._content_type = content_type
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []

    @property
    def started(self) -> bool:
        return self._upload_id is not None

    async def add_part(self, data: bytes) -> None:
        with _s3_failures(self._bucket):
            await self._add_part(data)

    async def _add_part(self, data: bytes) -> None:
        if self._upload_id is None:
            created = await self._client.create_multipart_upload(
                Bucket=self._bucket, Key=self._key, ContentType=self._content_type
            )
            self._upload_id = str(created["UploadId"])
        number = len(self._parts) + 1
        uploaded = await self._client.upload_part(
            Bucket=self._bucket,
            Key=self._key,
            UploadId=self._upload_id,
            PartNumber=number,
            Body=data,
        )
        self._parts.append({"ETag": uploaded["ETag"], "PartNumber": number})

    async def complete(self) -> None:
        with _s3_failures(self._bucket):
            await self._client.complete_multipart_upload(
                Bucket=self._bucket,
                Key=self._key,
                UploadId=self._upload_id,
                MultipartUpload={"Parts": self._parts},
            )
        self._upload_id = None

    async def abort(self) -> None:
        """Abort if started; never raises, so the original error is what callers see."""
        upload_id, self._upload_id = self._upload_id, None
        if upload_id is None:
            return
        try:
            await self._client.abort_multipart_upload(
                Bucket=self._bucket, Key=self._key, UploadId=upload_id
            )
        except Exception:
            # S3 lifecycle rules (AbortIncompleteMultipartUpload) are the
            # backstop for an upload we could not abort.
            logger.exception("could not abort multipart upload of %s", self._key)


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _reason(exc: BaseException) -> str:
    """A short cause an operator can act on."""
    if isinstance(exc, ClientError):
        code = _code(exc)
        if code in _MISSING | {"NoSuchBucket"}:
            return "bucket does not exist"
        if code in {"403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"}:
            return f"access denied ({code})"
        return f"{code}: {exc.response.get('Error', {}).get('Message', '')}".strip(": ")
    cause: BaseException | None = exc
    for _ in range(8):  # the network error sits a few links down the chain
        if cause is None:
            break
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, socket.gaierror):
            return "host name does not resolve"
        if isinstance(cause, TimeoutError):
            return f"no answer within {CHECK_TIMEOUT:g} s"
        cause = cause.__cause__ or cause.__context__
    return str(exc) or type(exc).__name__
