"""Sequential reads and writes of large local files.

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
import os

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
