"""The S3 backend: objects in a bucket of an S3Storage (django-storages), under its location.

A single PutObject when the object fits in one part, otherwise a multipart upload of PART_SIZE
parts completed on finish (aborted on abort); ranged GETs streamed from the response body. Every
thread of a process uses the same client (see _S3Clients).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import posixpath
import secrets
import threading
from collections.abc import Iterator

from storage.backends.base import (
    KEY_PATTERN,
    Appender,
    BlobStore,
    ObjectMissing,
    ObjectWriter,
    RangeReader,
    StorageUnavailable,
    object_name,
)

logger = logging.getLogger(__name__)

PART_SIZE = 8 * 1024 * 1024  # S3 multipart part size (S3's minimum is 5 MiB)
# S3 allows 10,000 parts. Part sizes double every PARTS_PER_STEP parts so there is no practical
# size limit (8 MiB parts up to 8 GiB, then 16 MiB up to 24 GiB, …) while the writer's buffer
# stays one part.
PARTS_PER_STEP = 1000
MAX_PART_SIZE = 5 * 1024**3


def part_size_for(part_number: int, base: int = PART_SIZE) -> int:
    """Size of multipart part `part_number` (1-based) when parts start at `base` bytes."""
    return min(base << ((part_number - 1) // PARTS_PER_STEP), MAX_PART_SIZE)


def _error_code(exc) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


_RETRYABLE_S3_CODES = {"SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable"}


def transient_storage_error(exc: BaseException) -> bool:
    """An S3 answer that means "try again later": a 5xx, SlowDown, RequestTimeout."""
    from botocore.exceptions import ClientError

    if not isinstance(exc, ClientError):
        return False
    status = (exc.response or {}).get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
    return status >= 500 or _error_code(exc) in _RETRYABLE_S3_CODES


class _S3Reader(RangeReader):
    """A ranged GET streamed from the response body.

    A slow download can leave the S3 connection idle long enough for the server to drop it;
    the reader then resumes with a new ranged GET from where it stopped, pinned to the same
    object by its ETag (If-Match), a few times at most.
    """

    resume_attempts = 3

    def __init__(self, store, key: str, offset: int, length: int):
        self._store = store
        self._key = key
        self._position = offset
        self._remaining = length
        self._etag: str | None = None
        self._resumes = 0
        self._body = None
        self.total_size = self._open()

    def _open(self) -> int:
        from botocore.exceptions import ClientError

        request = {
            "Bucket": self._store.bucket,
            "Key": self._store.name(self._key),
            "Range": f"bytes={self._position}-{self._position + self._remaining - 1}",
        }
        if self._etag:
            request["IfMatch"] = self._etag
        try:
            response = self._store.client.get_object(**request)
        except ClientError as exc:
            if _error_code(exc) in ("NoSuchKey", "404", "InvalidRange", "416"):
                raise ObjectMissing(self._key) from None
            raise
        self._body = response["Body"]
        self._etag = response.get("ETag") or self._etag
        content_range = response.get("ContentRange") or ""
        _unit, _sep, total = content_range.rpartition("/")
        if total.isdigit():
            return int(total)
        if self._position == 0:  # a server that ignores Range sends the whole object
            return int(response["ContentLength"])
        self._body.close()
        raise StorageUnavailable("The S3 server ignored a Range request.")

    def read(self, size: int) -> bytes:
        from botocore.exceptions import BotoCoreError
        from urllib3.exceptions import HTTPError

        size = min(size, self._remaining)
        if size <= 0:
            return b""
        while True:
            try:
                data = self._body.read(size)
                break
            except (BotoCoreError, HTTPError, OSError):
                if self._resumes >= self.resume_attempts:
                    raise
                self._resumes += 1
                logger.info("Resuming the read of %s at byte %d", self._key, self._position)
                with contextlib.suppress(Exception):
                    self._body.close()
                self._open()
        self._position += len(data)
        self._remaining -= len(data)
        return data

    def close(self) -> None:
        if self._body is not None:
            self._body.close()


class _S3Writer(ObjectWriter):
    def __init__(self, client, bucket: str, name: str, part_size: int):
        self._client = client
        self._bucket = bucket
        self._name = name
        self._part_size = part_size
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict] = []

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def write(self, data) -> None:
        self._buffer += data
        while len(self._buffer) >= (size := part_size_for(len(self._parts) + 1, self._part_size)):
            with memoryview(self._buffer) as view:
                part = bytes(view[:size])  # one copy, no intermediate bytearray
            del self._buffer[:size]
            self._upload_part(part)

    def _upload_part(self, body: bytes) -> None:
        if self._upload_id is None:
            response = self._client.create_multipart_upload(Bucket=self._bucket, Key=self._name)
            self._upload_id = response["UploadId"]
        number = len(self._parts) + 1
        response = self._client.upload_part(
            Bucket=self._bucket,
            Key=self._name,
            UploadId=self._upload_id,
            PartNumber=number,
            Body=body,
        )
        self._parts.append({"PartNumber": number, "ETag": response["ETag"]})

    def finish(self) -> None:
        if self._upload_id is None:
            self._client.put_object(Bucket=self._bucket, Key=self._name, Body=bytes(self._buffer))
        else:
            if self._buffer:
                self._upload_part(bytes(self._buffer))
            self._client.complete_multipart_upload(
                Bucket=self._bucket,
                Key=self._name,
                UploadId=self._upload_id,
                MultipartUpload={"Parts": self._parts},
            )
        self._buffer = bytearray()

    def abort(self) -> None:
        self._buffer = bytearray()
        if self._upload_id is None:
            return
        try:
            self._client.abort_multipart_upload(
                Bucket=self._bucket, Key=self._name, UploadId=self._upload_id
            )
        except Exception:  # noqa: BLE001 - abort never raises; cleanup retries later
            logger.warning("Could not abort multipart upload of %s", self._name, exc_info=True)
        else:
            self._upload_id = None


class _S3Appender(Appender):
    """A multipart upload that spans requests. Parts are PART_SIZE (S3 wants ≥ 5 MiB for all but
    the last), so the bytes short of a part are kept between requests in a small "stage" object
    (already encrypted, under its own random key) and read back by the next request.

    State: {"upload_id", "parts": [[number, etag], …], "stage": key, "staged": bytes}.
    """

    def __init__(self, store: S3BlobStore, key: str, state: dict):
        self._store = store
        self._client = store.client
        self._name = store.name(key)
        self._key = key
        self._upload_id = state.get("upload_id")
        self._parts = [list(part) for part in state.get("parts", [])]
        self._stage = state.get("stage") or key + secrets.token_hex(16)
        # Stage objects that a newer one replaced: removed once the caller recorded the new
        # state (committed()), never before, since the recorded state still names them.
        self._superseded: list[str] = []
        self._buffer = bytearray()
        staged = int(state.get("staged", 0))
        if staged:
            with store.open_range(self._stage, 0, staged) as reader:
                self._buffer += reader.read_exact(staged)
            if len(self._buffer) != staged:
                raise ObjectMissing(self._stage)

    def _state(self) -> dict:
        return {
            "upload_id": self._upload_id,
            "parts": self._parts,
            "stage": self._stage,
            "staged": len(self._buffer),
        }

    def _upload_part(self, body: bytes) -> None:
        if self._upload_id is None:
            response = self._client.create_multipart_upload(
                Bucket=self._store.bucket, Key=self._name
            )
            self._upload_id = response["UploadId"]
        number = len(self._parts) + 1
        response = self._client.upload_part(
            Bucket=self._store.bucket,
            Key=self._name,
            UploadId=self._upload_id,
            PartNumber=number,
            Body=body,
        )
        self._parts.append([number, response["ETag"]])

    def append(self, data) -> None:
        self._buffer += data
        while len(self._buffer) >= (
            size := part_size_for(len(self._parts) + 1, self._store.part_size)
        ):
            with memoryview(self._buffer) as view:
                part = bytes(view[:size])
            del self._buffer[:size]
            self._upload_part(part)

    def commit(self) -> dict:
        # A new stage object under a new name every time: until the caller has recorded the
        # state returned here, the recorded one names the previous stage, and a request that
        # fails in between (the database lost, a kill) must leave that one as it was.
        self._superseded.append(self._stage)
        self._stage = self._key + secrets.token_hex(16)
        if self._buffer:
            self._client.put_object(
                Bucket=self._store.bucket,
                Key=self._store.name(self._stage),
                Body=bytes(self._buffer),
            )
        return self._state()

    def committed(self) -> None:
        self._remove_stages(self._superseded)

    def _remove_stages(self, stages: list[str]) -> None:
        """Best effort: a stage left behind is the orphan cleanup's (storage/cleanup.py)."""
        for stage in stages:
            try:
                self._client.delete_object(Bucket=self._store.bucket, Key=self._store.name(stage))
            except Exception:  # noqa: BLE001
                logger.warning("Could not remove the stage object %s", stage, exc_info=True)
        stages.clear()

    def complete(self) -> None:
        bucket = self._store.bucket
        if self._upload_id is None:
            self._client.put_object(Bucket=bucket, Key=self._name, Body=bytes(self._buffer))
        else:
            if self._buffer:
                self._upload_part(bytes(self._buffer))
            self._client.complete_multipart_upload(
                Bucket=bucket,
                Key=self._name,
                UploadId=self._upload_id,
                MultipartUpload={
                    "Parts": [{"PartNumber": n, "ETag": etag} for n, etag in self._parts]
                },
            )
        self._buffer = bytearray()
        self._remove_stages([*self._superseded, self._stage])

    def discard(self) -> None:
        self._buffer = bytearray()
        bucket = self._store.bucket
        self._remove_stages([*self._superseded, self._stage])
        try:
            if self._upload_id is not None:
                self._client.abort_multipart_upload(
                    Bucket=bucket, Key=self._name, UploadId=self._upload_id
                )
        except Exception:  # noqa: BLE001 - orphan cleanup reclaims it later
            logger.warning("Could not discard the upload of %s", self._name, exc_info=True)

    def close(self) -> None:
        self._buffer = bytearray()


class _S3Clients:
    """The boto3 session of a process and the S3 clients made from it.

    django-storages keeps one boto3 session and resource per thread (`S3Storage.connection`),
    and each session loads its own copy of botocore's service data: ~12.5 MiB per thread, so
    a gunicorn worker of 8 threads carried ~100 MiB of them during concurrent downloads
    (bench/concurrency.py). botocore clients are thread-safe; sessions are not, so one session
    per process makes the clients, under a lock, and every thread shares them. The pool keeps
    up to LOCKER_S3_MAX_CONNECTIONS connections (a streaming read holds one while it runs).
    Made again in a forked child: a connection pool must never be shared across processes.
    """

    _lock = threading.Lock()

    def __init__(self, storage):
        from django.conf import settings

        self.pid = os.getpid()
        self._storage = storage
        self._session = storage._create_session()
        self.client = self._client(max_pool_connections=settings.LOCKER_S3_MAX_CONNECTIONS)
        self._check: object | None = None

    def _client(self, **config):
        from botocore.config import Config

        storage = self._storage
        return self._session.client(
            "s3",
            region_name=storage.region_name,
            use_ssl=storage.use_ssl,
            endpoint_url=storage.endpoint_url,
            verify=storage.verify,
            config=storage.client_config.merge(Config(**config)),
        )

    @property
    def check(self):
        """A client that gives up in seconds, so a health probe never hangs on a dead host."""
        if self._check is None:
            with self._lock:
                if self._check is None:
                    self._check = self._client(
                        connect_timeout=1, read_timeout=2, retries={"max_attempts": 1}
                    )
        return self._check

    @classmethod
    def of(cls, storage) -> _S3Clients:
        """This process's clients for `storage` (kept on it; Django caches the storage)."""
        clients = getattr(storage, "_locker_s3_clients", None)
        if clients is None or clients.pid != os.getpid():
            with cls._lock:
                clients = getattr(storage, "_locker_s3_clients", None)
                if clients is None or clients.pid != os.getpid():
                    clients = cls(storage)
                    storage._locker_s3_clients = clients
        return clients

    @classmethod
    def _after_fork(cls) -> None:
        cls._lock = threading.Lock()  # a lock held by another thread at fork stays held


os.register_at_fork(after_in_child=_S3Clients._after_fork)


class S3BlobStore(BlobStore):
    kind = "s3"

    def __init__(self, storage, part_size: int = PART_SIZE):
        self.storage = storage
        self.bucket = storage.bucket_name
        self.prefix = (storage.location or "").strip("/")
        self.part_size = part_size

    @property
    def client(self):
        """The process's shared S3 client (never S3Storage's per-thread ones)."""
        return _S3Clients.of(self.storage).client

    def name(self, key: str) -> str:
        name = object_name(key)
        return posixpath.join(self.prefix, name) if self.prefix else name

    def writer(self, key: str) -> ObjectWriter:
        return _S3Writer(self.client, self.bucket, self.name(key), self.part_size)

    def appender(self, key: str, state: dict) -> Appender:
        return _S3Appender(self, key, state)

    def open_range(self, key: str, offset: int, length: int) -> RangeReader:
        if length <= 0:
            raise ValueError("An S3 range read needs a positive length.")
        return _S3Reader(self, key, offset, length)

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self.name(key))
        except ClientError as exc:
            if _error_code(exc) in ("NoSuchKey", "404", "NotFound"):
                return False
            raise
        return True

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self.name(key))

    def delete_many(self, keys: list[str]) -> None:
        """DeleteObjects, up to 1000 keys a request (S3's limit)."""
        for start in range(0, len(keys), 1000):
            chunk = keys[start : start + 1000]
            response = self.client.delete_objects(
                Bucket=self.bucket,
                Delete={"Objects": [{"Key": self.name(key)} for key in chunk], "Quiet": True},
            )
            errors = [e for e in response.get("Errors", []) if e.get("Code") != "NoSuchKey"]
            if errors:
                raise StorageUnavailable(
                    f"S3 could not delete {len(errors)} objects, e.g. {errors[0].get('Key')}: "
                    f"{errors[0].get('Message') or errors[0].get('Code')}"
                )

    def discard_unfinished(self, key: str) -> None:
        name = self.name(key)
        response = self.client.list_multipart_uploads(Bucket=self.bucket, Prefix=name)
        for upload in response.get("Uploads", []):
            if upload["Key"] == name:
                self.client.abort_multipart_upload(
                    Bucket=self.bucket, Key=name, UploadId=upload["UploadId"]
                )

    def _key_of(self, name: str) -> str | None:
        key = posixpath.basename(name)
        return key if KEY_PATTERN.match(key) and self.name(key) == name else None

    def iter_objects(self, *, after: str = "") -> Iterator[tuple[str, dt.datetime]]:
        # S3 lists in key order, and a name (ab/cd/abcd…) sorts as its key does.
        paginator = self.client.get_paginator("list_objects_v2")
        prefix = f"{self.prefix}/" if self.prefix else ""
        start = {"StartAfter": self.name(after)} if after else {}
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix, **start):
            for item in page.get("Contents", []):
                key = self._key_of(item["Key"])
                if key and key > after:
                    yield key, item["LastModified"]

    def iter_unfinished(self, *, after: str = "") -> Iterator[tuple[str, dt.datetime]]:
        # Servers disagree on the order of this listing and on KeyMarker (SeaweedFS lists the
        # newest first), so it is read whole and sorted here: unfinished uploads are the few in
        # progress and the leftovers of crashes, which this very listing removes.
        paginator = self.client.get_paginator("list_multipart_uploads")
        prefix = f"{self.prefix}/" if self.prefix else ""
        found = []
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            for upload in page.get("Uploads", []):
                key = self._key_of(upload["Key"])
                if key and key > after:
                    found.append((key, upload["Initiated"]))
        found.sort(key=lambda item: item[0])
        yield from found

    def check(self) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            _S3Clients.of(self.storage).check.head_bucket(Bucket=self.bucket)
        except (BotoCoreError, ClientError) as exc:
            raise StorageUnavailable(f"S3 bucket {self.bucket!r} is unreachable: {exc}") from exc

    def prepare(self) -> None:
        from botocore.exceptions import ClientError

        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            if _error_code(exc) not in ("404", "NoSuchBucket", "NotFound"):
                raise
            self.client.create_bucket(Bucket=self.bucket)
