"""Where encrypted objects live: a local directory or an S3 bucket, through django-storages.

Both stores speak in storage keys (random hex strings from files/content.py) and bytes that are
already encrypted. They stream: a writer is fed pieces and keeps at most one S3 part in memory; a
reader returns a byte range of an object without fetching the rest.

- local (`FileSystemStorage`): objects at `<location>/ab/cd/abcd…`; a writer writes
  `<final>.partial` and renames it over the final name on finish (after fsync), so a half-written
  object never appears under its key.
- s3 (`S3Storage`): a single PutObject when the object fits in one part, otherwise a multipart
  upload of PART_SIZE parts completed on finish (aborted on abort); ranged GETs streamed from
  the response body. Every thread of a process uses the same client (see _S3Clients).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import posixpath
import re
import secrets
import threading
from collections.abc import Iterator

from django.core.files.storage import FileSystemStorage, storages

from files import localio

logger = logging.getLogger(__name__)

KEY_PATTERN = re.compile(r"^[0-9a-f]{32,64}$")
PART_SIZE = 8 * 1024 * 1024  # S3 multipart part size (S3's minimum is 5 MiB)
# S3 allows 10,000 parts. Part sizes double every PARTS_PER_STEP parts so there is no practical
# size limit (8 MiB parts up to 8 GiB, then 16 MiB up to 24 GiB, …) while the writer's buffer
# stays one part.
PARTS_PER_STEP = 1000
MAX_PART_SIZE = 5 * 1024**3


def part_size_for(part_number: int, base: int = PART_SIZE) -> int:
    """Size of multipart part `part_number` (1-based) when parts start at `base` bytes."""
    return min(base << ((part_number - 1) // PARTS_PER_STEP), MAX_PART_SIZE)


PARTIAL_SUFFIX = ".partial"


class StorageUnavailable(Exception):
    """The content storage cannot be reached or refused the operation."""


class ObjectMissing(Exception):
    """The object does not exist, or is shorter than the requested range."""


def object_name(key: str) -> str:
    """Storage name of a key, fanned out into two directory levels: ab/cd/abcd…"""
    if not KEY_PATTERN.match(key):
        raise ValueError("A storage key is 32-64 lowercase hex characters.")
    return f"{key[0:2]}/{key[2:4]}/{key}"


class RangeReader:
    """A byte range of one object. `total_size` is the size of the whole object."""

    total_size: int

    def read(self, size: int) -> bytes:  # pragma: no cover - interface
        raise NotImplementedError

    def close(self) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def read_exact(self, size: int) -> bytes:
        """`size` bytes, or fewer only when the range or the object ends."""
        data = self.read(size)
        if len(data) == size or not data:
            return data
        parts = [data]
        got = len(data)
        while got < size:
            more = self.read(size - got)
            if not more:
                break
            parts.append(more)
            got += len(more)
        return b"".join(parts)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class ObjectWriter:
    """Receives an object's bytes in order; nothing is visible under the key before finish()."""

    def write(self, data) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def finish(self) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def abort(self) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    @property
    def buffered(self) -> int:
        """Bytes held in memory by this writer right now."""
        return 0


class Appender:
    """An object written over several requests, possibly in several processes (tus uploads).

    `append()` bytes, then `commit()` makes them durable and returns the JSON-serialisable state
    to store (in the database) and hand to the next `BlobStore.appender()`. Bytes appended after
    the last commit are forgotten when the next appender opens with the older state. `complete()`
    publishes the object under its key; `discard()` removes everything. Memory: at most one S3
    part.
    """

    def append(self, data) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def commit(self) -> dict:  # pragma: no cover - interface
        raise NotImplementedError

    def complete(self) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def discard(self) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def close(self) -> None:
        """Let go of files and buffers without committing (the committed state stays valid)."""


class BlobStore:
    kind = ""

    def writer(self, key: str) -> ObjectWriter:  # pragma: no cover - interface
        raise NotImplementedError

    def appender(self, key: str, state: dict) -> Appender:  # pragma: no cover - interface
        """Continue an unfinished object across requests (tus); `state` from a previous commit()."""
        raise NotImplementedError

    def open_range(self, key: str, offset: int, length: int) -> RangeReader:  # pragma: no cover
        """Bytes [offset, offset+length) of an object; ObjectMissing when it does not exist."""
        raise NotImplementedError

    def exists(self, key: str) -> bool:  # pragma: no cover - interface
        raise NotImplementedError

    def delete(self, key: str) -> None:  # pragma: no cover - interface
        """Remove a finished object; idempotent."""
        raise NotImplementedError

    def delete_many(self, keys: list[str]) -> None:
        """Remove finished objects; idempotent. Raises after trying them all if one failed."""
        failed = None
        for key in keys:
            try:
                self.delete(key)
            except Exception as exc:  # noqa: BLE001 - reported once all were tried
                failed = exc
        if failed is not None:
            raise failed

    def discard_unfinished(self, key: str) -> None:  # pragma: no cover - interface
        """Remove an unfinished upload of this key (partial file, S3 multipart); idempotent."""
        raise NotImplementedError

    def iter_objects(self) -> Iterator[tuple[str, dt.datetime]]:  # pragma: no cover
        """(key, last modified) of every finished object, for orphan cleanup."""
        raise NotImplementedError

    def iter_unfinished(self) -> Iterator[tuple[str, dt.datetime]]:  # pragma: no cover
        """(key, started) of every unfinished upload, for orphan cleanup."""
        raise NotImplementedError

    def check(self) -> None:  # pragma: no cover - interface
        """Raise StorageUnavailable when the storage cannot be reached."""
        raise NotImplementedError

    def prepare(self) -> None:  # pragma: no cover - interface
        """Create the directory or bucket if missing (operations and tests, not per request)."""
        raise NotImplementedError


# --- Local directory --------------------------------------------------------------------------


class _LocalReader(RangeReader):
    def __init__(self, fd: int, total_size: int, offset: int, length: int):
        self._fd = fd
        self.total_size = total_size
        self._reader = localio.WindowedReader(fd, offset, length)

    def read(self, size: int) -> bytes:
        return self._reader.read(size)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class _LocalWriter(ObjectWriter):
    def __init__(self, final_path: str, mode: int):
        self._final = final_path
        self._partial = final_path + PARTIAL_SUFFIX
        os.makedirs(os.path.dirname(final_path), exist_ok=True)
        self._fd = os.open(self._partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        self._writes = localio.WindowedWriter(self._fd)

    @property
    def buffered(self) -> int:
        return self._writes.buffered

    def write(self, data) -> None:
        self._writes.write(data)

    def finish(self) -> None:
        try:
            self._writes.drain()
        finally:
            self._writes.close()
        os.fsync(self._fd)
        os.close(self._fd)
        self._fd = -1
        os.replace(self._partial, self._final)
        _fsync_dir(os.path.dirname(self._final))

    def abort(self) -> None:
        with contextlib.suppress(OSError):
            self._writes.close()
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = -1
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._partial)


def _fsync_dir(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _mtime(path: str) -> dt.datetime:
    return dt.datetime.fromtimestamp(os.stat(path).st_mtime, tz=dt.UTC)


class _LocalAppender(Appender):
    """Appends to `<final>.partial`, cut back to the committed size first (a request that died
    after writing but before its commit leaves bytes nobody accounted for)."""

    def __init__(self, final_path: str, mode: int, state: dict):
        self._final = final_path
        self._partial = final_path + PARTIAL_SUFFIX
        self._size = int(state.get("size", 0))
        self._committed = self._size
        os.makedirs(os.path.dirname(final_path), exist_ok=True)
        flags = os.O_RDWR | (0 if state else os.O_CREAT | os.O_EXCL)
        try:
            fd = os.open(self._partial, flags, mode)
        except FileNotFoundError:
            raise ObjectMissing(os.path.basename(final_path)) from None
        try:
            if os.fstat(fd).st_size < self._size:
                raise ObjectMissing(os.path.basename(final_path))
            os.ftruncate(fd, self._size)
            os.lseek(fd, self._size, os.SEEK_SET)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        self._writes = localio.WindowedWriter(fd)

    def append(self, data) -> None:
        self._writes.write(data)
        self._size += len(data)

    def commit(self) -> dict:
        self._writes.drain()
        os.fsync(self._fd)
        self._committed = self._size
        return {"size": self._size}

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._writes.close()
        if self._fd >= 0:
            if self._size != self._committed:
                # Bytes nobody will commit (the request failed, say on a full disk): give their
                # space back now rather than when the next request opens the upload.
                with contextlib.suppress(OSError):
                    os.ftruncate(self._fd, self._committed)
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = -1

    def complete(self) -> None:
        self.commit()
        self.close()
        os.replace(self._partial, self._final)
        _fsync_dir(os.path.dirname(self._final))

    def discard(self) -> None:
        self.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._partial)


class LocalBlobStore(BlobStore):
    kind = "local"

    def __init__(self, storage: FileSystemStorage):
        self.storage = storage
        self.root = os.path.abspath(storage.location)
        self.mode = storage.file_permissions_mode or 0o600

    def path(self, key: str) -> str:
        return self.storage.path(object_name(key))

    def writer(self, key: str) -> ObjectWriter:
        return _LocalWriter(self.path(key), self.mode)

    def appender(self, key: str, state: dict) -> Appender:
        return _LocalAppender(self.path(key), self.mode, state)

    def open_range(self, key: str, offset: int, length: int) -> RangeReader:
        try:
            fd = os.open(self.path(key), os.O_RDONLY)
        except FileNotFoundError:
            raise ObjectMissing(key) from None
        try:
            total = os.fstat(fd).st_size
        except BaseException:
            os.close(fd)
            raise
        return _LocalReader(fd, total, offset, length)

    def exists(self, key: str) -> bool:
        return os.path.isfile(self.path(key))

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path(key))

    def discard_unfinished(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path(key) + PARTIAL_SUFFIX)

    def _walk(self, partial: bool) -> Iterator[tuple[str, dt.datetime]]:
        for dirpath, _dirs, names in os.walk(self.root):
            for name in names:
                key = name.removesuffix(PARTIAL_SUFFIX)
                if (name != key) != partial or not KEY_PATTERN.match(key):
                    continue
                try:
                    yield key, _mtime(os.path.join(dirpath, name))
                except FileNotFoundError:
                    continue  # deleted while we walked

    def iter_objects(self) -> Iterator[tuple[str, dt.datetime]]:
        return self._walk(partial=False)

    def iter_unfinished(self) -> Iterator[tuple[str, dt.datetime]]:
        return self._walk(partial=True)

    def check(self) -> None:
        try:
            os.makedirs(self.root, exist_ok=True)
        except OSError as exc:
            raise StorageUnavailable(f"Cannot create the objects directory: {exc}") from exc
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise StorageUnavailable(f"The objects directory {self.root} is not writable.")

    def prepare(self) -> None:
        self.check()


# --- S3 ---------------------------------------------------------------------------------------


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
        bucket, stage = self._store.bucket, self._store.name(self._stage)
        if self._buffer:
            self._client.put_object(Bucket=bucket, Key=stage, Body=bytes(self._buffer))
        else:
            self._client.delete_object(Bucket=bucket, Key=stage)
        return self._state()

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
        self._client.delete_object(Bucket=bucket, Key=self._store.name(self._stage))

    def discard(self) -> None:
        self._buffer = bytearray()
        bucket = self._store.bucket
        try:
            self._client.delete_object(Bucket=bucket, Key=self._store.name(self._stage))
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

    def iter_objects(self) -> Iterator[tuple[str, dt.datetime]]:
        paginator = self.client.get_paginator("list_objects_v2")
        prefix = f"{self.prefix}/" if self.prefix else ""
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                key = self._key_of(item["Key"])
                if key:
                    yield key, item["LastModified"]

    def iter_unfinished(self) -> Iterator[tuple[str, dt.datetime]]:
        paginator = self.client.get_paginator("list_multipart_uploads")
        prefix = f"{self.prefix}/" if self.prefix else ""
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            for upload in page.get("Uploads", []):
                key = self._key_of(upload["Key"])
                if key:
                    yield key, upload["Initiated"]

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


def get_blobstore() -> BlobStore:
    """The store over `storages["default"]` (cheap: wraps the storage Django caches)."""
    storage = storages["default"]
    if isinstance(storage, FileSystemStorage):
        return LocalBlobStore(storage)
    # On the class: reading S3Storage.connection would make this thread a boto3 session.
    if hasattr(storage, "bucket_name") and hasattr(type(storage), "connection"):
        return S3BlobStore(storage)
    raise StorageUnavailable(
        f"Unsupported content storage {type(storage).__name__}: use LOCKER_STORAGE=local or s3."
    )
