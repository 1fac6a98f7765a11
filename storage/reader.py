"""Reading stored content: plaintext byte ranges of a complete blob, decrypted as they stream.

A reader holds one segment, and a long read at most READ_AHEAD_DEPTH batches of 2 MiB decrypted
ahead, while the process's read-ahead budget (LOCKER_READ_AHEAD_MEMORY, shared by all its reads)
allows.

    for chunk in iter_content(blob, start, end):   # plaintext [start, end)
        ...
"""

from __future__ import annotations

import collections
import concurrent.futures
import hashlib
import logging
import os
import threading
from collections.abc import Iterator

from django.conf import settings

from storage import crypto, masterkeys
from storage.backends import get_blobstore
from storage.backends.base import ObjectMissing
from storage.exceptions import CorruptContent
from storage.models import Blob
from storage.writer import HEAD_SIZE

logger = logging.getLogger(__name__)

# Long reads are decrypted in batches of about READ_AHEAD_BYTES, at most READ_AHEAD_DEPTH
# batches ahead of the one being sent (see _decrypt_range), within the process's budget; a read
# shorter than READ_AHEAD_MIN_BATCHES batches is decrypted in the caller's thread.
READ_AHEAD_BYTES = 2 * 1024 * 1024
READ_AHEAD_DEPTH = 2
READ_AHEAD_MIN_BATCHES = 3


class _ReadAheadBudget:
    """Plaintext bytes decrypted ahead of what is being sent, summed over a process's reads.

    Each long read asks for a batch's worth before it hands the batch to its helper thread and
    gives it back once the batch is being sent. A read that is refused decrypts its next
    segments itself, one at a time (it never waits for another read), so what a worker holds
    for downloads is about two segments per request thread (the one being sent, the one being
    read and decrypted) plus LOCKER_READ_AHEAD_MEMORY, however many downloads run: with many at
    once the cores are busy anyway, and decrypting further ahead would add memory, not speed.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self.held = 0

    def take(self, nbytes: int) -> bool:
        with self._lock:
            if self.held + nbytes > settings.LOCKER_READ_AHEAD_MEMORY:
                return False
            self.held += nbytes
            return True

    def give_back(self, nbytes: int) -> None:
        with self._lock:
            self.held -= nbytes

    def _after_fork(self) -> None:
        self._lock = threading.Lock()
        self.held = 0


_read_ahead = _ReadAheadBudget()
os.register_at_fork(after_in_child=_read_ahead._after_fork)


def read_ahead_held() -> int:
    """Plaintext bytes this process's reads hold decrypted ahead right now."""
    return _read_ahead.held


def _data_key(blob: Blob) -> bytes:
    try:
        return masterkeys.unwrap_blob_key(blob)
    except crypto.DecryptionError as exc:
        raise CorruptContent(f"Blob {blob.storage_key}: {exc}") from exc


def _segment_plain_size(index: int, count: int, size: int, segment_size: int) -> int:
    return segment_size if index < count - 1 else size - (count - 1) * segment_size


def iter_content(blob: Blob, start: int = 0, end: int | None = None) -> Iterator[bytes]:
    """Plaintext bytes [start, end) of a complete blob, in chunks of at most one segment.

    Reads and decrypts only the segments that hold the range. The key, the object's header, its
    length and the first segment of the range are checked before this returns (CorruptContent,
    or UnknownMasterKeyError when the wrapping master key is not configured; a storage outage
    raises its own error), so a caller can still answer with an error status instead of a
    response that breaks before its first byte; a later segment that fails authentication
    raises CorruptContent during iteration. Close the iterator when not reading it to the end.
    """
    size = blob.size
    if end is None:
        end = size
    if not 0 <= start <= end <= size:
        raise ValueError(f"Range [{start}, {end}) is outside content of {size} bytes.")
    if blob.state != Blob.State.COMPLETE:
        raise ValueError("This blob is still being written.")
    if start == end:
        return iter(())
    segment_size = blob.segment_size
    data_key = _data_key(blob)
    count = crypto.segment_count(size, segment_size)
    first = start // segment_size
    last = (end - 1) // segment_size
    range_start = crypto.segment_offset(first, segment_size)
    range_end = (
        crypto.segment_offset(last, segment_size)
        + _segment_plain_size(last, count, size, segment_size)
        + crypto.TAG_SIZE
    )
    store = get_blobstore()
    key = blob.storage_key
    try:
        if first == 0:
            reader = store.open_range(key, 0, range_end)
            header = reader.read_exact(crypto.HEADER_SIZE)
        else:
            with store.open_range(key, 0, crypto.HEADER_SIZE) as head_reader:
                header = head_reader.read_exact(crypto.HEADER_SIZE)
            reader = store.open_range(key, range_start, range_end - range_start)
    except ObjectMissing:
        raise CorruptContent(f"Blob {key}: the stored object is missing or truncated.") from None
    try:
        if reader.total_size != crypto.encrypted_size(size, segment_size):
            raise CorruptContent(f"Blob {key}: the stored object has the wrong length.")
        try:
            decryptor = crypto.SegmentDecryptor(
                data_key, header, expected_segment_size=segment_size
            )
        except crypto.DecryptionError as exc:
            raise CorruptContent(f"Blob {key}: {exc}") from exc
    except BaseException:
        reader.close()
        raise
    return _FirstChunkRead(
        _decrypt_range(reader, decryptor, key, first, last, count, size, start, end)
    )


class _FirstChunkRead:
    """An iterator over `chunks` whose first chunk is produced (and so checked) at once.

    A generator cannot do this itself: its body only starts at the first next(). Unlike a
    generator that was never started, close() always reaches `chunks` (and its reader).
    """

    def __init__(self, chunks):
        self._chunks = chunks
        self._first = next(chunks, None)  # raises what the first segment raises

    def __iter__(self):
        return self

    def __next__(self) -> bytes:
        if self._first is not None:
            first, self._first = self._first, None
            return first
        return next(self._chunks)

    def close(self) -> None:
        self._first = None
        self._chunks.close()


def _decrypt_range(reader, decryptor, key, first, last, count, size, start, end):
    """Plaintext chunks of segments first..last, trimmed to [start, end).

    A range of more than a few segments is read and decrypted a batch or two ahead in a helper
    thread (AES-GCM and file/socket I/O release the GIL), so that decrypting the next batch
    overlaps sending the current one: a download then uses two cores instead of one. Batches
    ahead are paid from the process's budget (_ReadAheadBudget); without it the next segment is
    read and decrypted here, one at a time. A segment that fails authentication is raised after
    the good segments before it.
    """
    segment_size = decryptor.segment_size

    def open_batch(indices: range) -> tuple[list[bytes], CorruptContent | None]:
        """The batch's plaintexts, up to the first segment that fails, and that failure."""
        plains = []
        for index in indices:
            expected = _segment_plain_size(index, count, size, segment_size) + crypto.TAG_SIZE
            sealed = reader.read_exact(expected)
            if len(sealed) != expected:
                return plains, CorruptContent(f"Blob {key}: segment {index} is truncated.")
            try:
                plain = decryptor.decrypt_segment(index, sealed, last=index == count - 1)
            except crypto.DecryptionError as exc:
                return plains, CorruptContent(f"Blob {key}: {exc}")
            del sealed
            base = index * segment_size
            low = start - base if index == first else 0
            high = end - base if index == last else len(plain)
            plains.append(plain if low == 0 and high == len(plain) else plain[low:high])
        return plains, None

    def deliver(opened):
        """Yield the plaintexts, letting go of each once the next is asked for."""
        plains, failure = opened
        plains.reverse()
        while plains:
            yield plains.pop()
        if failure is not None:
            raise failure

    per_batch = max(1, READ_AHEAD_BYTES // segment_size)
    batch_bytes = per_batch * segment_size
    starts = range(first, last + 1, per_batch)
    if last - first + 1 < READ_AHEAD_MIN_BATCHES * per_batch:
        try:
            for index in range(first, last + 1):
                yield from deliver(open_batch(range(index, index + 1)))
        finally:
            reader.close()
        return

    # One helper thread (made when the budget first allows) works through the batches in order
    # (the reader is sequential), up to READ_AHEAD_DEPTH batches ahead of the one being sent.
    # This thread reads only when nothing is pending, so the two never use the reader at once.
    pool: concurrent.futures.ThreadPoolExecutor | None = None
    pending: collections.deque[concurrent.futures.Future] = collections.deque()
    following = 0  # index into starts of the next batch nobody has read yet
    try:
        while True:
            while (
                following < len(starts)
                and len(pending) < READ_AHEAD_DEPTH
                and _read_ahead.take(batch_bytes)
            ):
                batch_start = starts[following]
                batch = range(batch_start, min(batch_start + per_batch, last + 1))
                try:
                    if pool is None:
                        pool = concurrent.futures.ThreadPoolExecutor(
                            max_workers=1, thread_name_prefix="decrypt"
                        )
                    pending.append(pool.submit(open_batch, batch))
                except BaseException:
                    _read_ahead.give_back(batch_bytes)  # no thread could take it
                    raise
                following += 1
            if pending:
                try:
                    opened = pending.popleft().result()
                finally:
                    _read_ahead.give_back(batch_bytes)
            elif following < len(starts):
                batch_start = starts[following]
                batch_end = min(batch_start + per_batch, last + 1)
                following += 1
                for index in range(batch_start, batch_end):
                    yield from deliver(open_batch(range(index, index + 1)))
                continue
            else:
                return
            if opened[1] is not None:
                following = len(starts)  # nothing after a failed segment
            yield from deliver(opened)
    finally:
        # The helper may be reading: let it finish its batch before the reader closes.
        for future in pending:
            future.cancel()
        concurrent.futures.wait(pending)
        _read_ahead.give_back(batch_bytes * len(pending))
        if pool is not None:
            pool.shutdown(wait=True)
        reader.close()


def content_head(blob: Blob) -> bytes:
    """The first HEAD_SIZE bytes of a complete blob (one segment read)."""
    return b"".join(iter_content(blob, 0, min(HEAD_SIZE, blob.size)))


def content_digest(blob: Blob) -> tuple[str, bytes]:
    """(SHA-256 hex, first HEAD_SIZE bytes) of a complete blob, by reading it once.

    For a resumable upload that could not hash its bytes as they arrived (no libcrypto SHA-256
    whose state can be saved, see storage/sha256state.py); docs/tus.md has the cost.
    """
    digest = hashlib.sha256()
    head = b""
    for chunk in iter_content(blob):
        digest.update(chunk)
        if len(head) < HEAD_SIZE:
            head += bytes(chunk[: HEAD_SIZE - len(head)])
    return digest.hexdigest(), head
