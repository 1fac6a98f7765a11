"""The interface every content storage backend implements, in the manner of
django.contrib.sessions.backends: `BlobStore` and the reader, writer and appender it hands out.

A backend stores objects that are already encrypted, under storage keys (random hex strings,
see storage/writer.py), and streams them: a writer is fed pieces and keeps at most one part in
memory; a reader returns a byte range of an object without fetching the rest. One module per
backend: storage/backends/local.py (a directory), storage/backends/s3.py (an S3 bucket);
`storage.backends.get_blobstore()` returns the one configured.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator

KEY_PATTERN = re.compile(r"^[0-9a-f]{32,64}$")


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
    to store (in the database) and hand to the next `BlobStore.appender()`; `committed()` once
    it is stored. Until then the previous state stays valid, whatever commit() stored: a request
    that dies in between leaves the upload where it was recorded. Bytes appended after the last
    recorded state are forgotten when the next appender opens with it. `complete()` publishes
    the object under its key; `discard()` removes everything. Memory: at most one S3 part.
    """

    def append(self, data) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def commit(self) -> dict:  # pragma: no cover - interface
        raise NotImplementedError

    def complete(self) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def discard(self) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def committed(self) -> None:
        """The caller recorded the state the last commit() returned: what only the previous
        state needed may go now (S3: the stage object it names)."""

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

    def iter_objects(self, *, after: str = "") -> Iterator[tuple[str, dt.datetime]]:
        """(key, last modified) of every finished object whose key sorts after `after`, in key
        order, read lazily: for the orphan cleanup, which resumes where its last run stopped."""
        raise NotImplementedError  # pragma: no cover - interface

    def iter_unfinished(self, *, after: str = "") -> Iterator[tuple[str, dt.datetime]]:
        """(key, started) of every unfinished upload whose key sorts after `after`, in key
        order, read lazily (as iter_objects)."""
        raise NotImplementedError  # pragma: no cover - interface

    def check(self) -> None:  # pragma: no cover - interface
        """Raise StorageUnavailable when the storage cannot be reached."""
        raise NotImplementedError

    def prepare(self) -> None:  # pragma: no cover - interface
        """Create the directory or bucket if missing (operations and tests, not per request)."""
        raise NotImplementedError
