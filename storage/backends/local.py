"""The local-directory backend: objects at `<location>/ab/cd/abcd…` of a FileSystemStorage.

A writer writes `<final>.partial` and renames it over the final name on finish (after fsync), so
a half-written object never appears under its key. Large files are read and written sequentially
with two helpers:

- A reader asks the kernel for the next window of the file while it consumes this one
  (posix_fadvise WILLNEED), so a cold file streams at the disk's pace rather than one
  synchronous read at a time.
- A writer copies its chunks into the file from a helper thread (os.write releases the GIL),
  overlapping that copy with receiving, hashing and encrypting the next chunk. On a virtual
  machine that hands free memory back to its host, taking new page-cache pages is the most
  expensive part of an upload (bench/README.md), so this overlap matters more than it seems.
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import datetime as dt
import os
from collections.abc import Iterator

from django.core.files.storage import FileSystemStorage

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

PARTIAL_SUFFIX = ".partial"
WINDOW = 16 * 1024 * 1024


class WindowedReader:
    """Bytes [offset, offset + length) of an open file, read in order with os.pread."""

    def __init__(self, fd: int, offset: int, length: int):
        self.fd = fd
        self._position = offset
        self._end = offset + length
        # Short reads are left to the kernel's own read-ahead.
        self._fetched = offset if length > WINDOW // 4 else self._end

    def read(self, size: int) -> bytes:
        size = min(size, self._end - self._position)
        if size <= 0:
            return b""
        if self._fetched < self._end and self._position + size > self._fetched - WINDOW // 2:
            start = max(self._fetched, self._position)
            self._fetched = min(self._end, start + WINDOW)
            with contextlib.suppress(OSError):  # advice only; some file systems refuse it
                os.posix_fadvise(self.fd, start, self._fetched - start, os.POSIX_FADV_WILLNEED)
        data = os.pread(self.fd, size, self._position)
        self._position += len(data)
        return data


class WindowedWriter:
    """Appends to a new file from a helper thread, in order.

    Only immutable chunks (bytes) are written behind the caller, at most MAX_IN_FLIGHT of them;
    anything else is written at once, after those. An error surfaces on a later write() or on
    drain().
    """

    MAX_IN_FLIGHT = 4

    def __init__(self, fd: int):
        self.fd = fd
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._pending: collections.deque[tuple[concurrent.futures.Future, int]] = (
            collections.deque()
        )

    @property
    def buffered(self) -> int:
        """Bytes handed over and not written yet."""
        return sum(size for _future, size in self._pending)

    def write(self, data) -> None:
        if type(data) is not bytes:
            self.drain()
            _write_all(self.fd, data)
            return
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="file-write"
            )
        while len(self._pending) >= self.MAX_IN_FLIGHT:
            self._pending.popleft()[0].result()
        self._pending.append((self._pool.submit(_write_all, self.fd, data), len(data)))

    def drain(self) -> None:
        """Wait until every chunk is written, raising the first error."""
        while self._pending:
            self._pending.popleft()[0].result()

    def close(self) -> None:
        """Stop the helper thread after the write it is doing; chunks not written yet are
        dropped. Never closes the file. Safe to call more than once."""
        for future, _size in self._pending:
            future.cancel()
        concurrent.futures.wait([future for future, _size in self._pending])
        self._pending.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None


def _write_all(fd: int, data) -> None:
    view = memoryview(data).cast("B")
    while view:
        view = view[os.write(fd, view) :]


# --- The store --------------------------------------------------------------------


class _LocalReader(RangeReader):
    def __init__(self, fd: int, total_size: int, offset: int, length: int):
        self._fd = fd
        self.total_size = total_size
        self._reader = WindowedReader(fd, offset, length)

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
        self._writes = WindowedWriter(self._fd)

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


def _sorted_names(path: str) -> list[str]:
    try:
        return sorted(os.listdir(path))
    except (FileNotFoundError, NotADirectoryError):
        return []


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
        self._writes = WindowedWriter(fd)

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

    def _walk(self, partial: bool, after: str) -> Iterator[tuple[str, dt.datetime]]:
        """Keys in order: the two fan-out levels and each leaf directory read sorted, skipping
        the directories that hold only keys up to `after` (one leaf in memory at a time)."""
        for top in _sorted_names(self.root):
            if len(top) != 2 or top < after[:2]:
                continue
            for sub in _sorted_names(os.path.join(self.root, top)):
                if len(sub) != 2 or top + sub < after[:4]:
                    continue
                leaf = os.path.join(self.root, top, sub)
                for name in _sorted_names(leaf):
                    key = name.removesuffix(PARTIAL_SUFFIX)
                    if (name != key) != partial or not KEY_PATTERN.match(key):
                        continue
                    if key[:4] != top + sub or key <= after:
                        continue
                    try:
                        yield key, _mtime(os.path.join(leaf, name))
                    except FileNotFoundError:
                        continue  # deleted while we walked

    def iter_objects(self, *, after: str = "") -> Iterator[tuple[str, dt.datetime]]:
        return self._walk(partial=False, after=after)

    def iter_unfinished(self, *, after: str = "") -> Iterator[tuple[str, dt.datetime]]:
        return self._walk(partial=True, after=after)

    def check(self) -> None:
        try:
            os.makedirs(self.root, exist_ok=True)
        except OSError as exc:
            raise StorageUnavailable(f"Cannot create the objects directory: {exc}") from exc
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise StorageUnavailable(f"The objects directory {self.root} is not writable.")

    def prepare(self) -> None:
        self.check()
