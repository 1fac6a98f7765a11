"""Encrypted, streaming file content: write it, read byte ranges of it, delete it.

The only way the rest of Locker touches stored bytes. Memory stays flat in file size: a writer
holds at most one plaintext segment plus one storage part (or, on local disk, four sealed
segments on their way to the file); a reader one segment, and a long read at most
READ_AHEAD_DEPTH batches of 2 MiB decrypted ahead, while the process's read-ahead budget
(LOCKER_READ_AHEAD_MEMORY, shared by all its reads) allows.

    writer = content_writer()          # Blob row (WRITING) committed now, random storage key
    try:
        for chunk in request_chunks:
            writer.write(chunk)         # writer.size, writer.sha256, writer.head available
        blob = writer.finish()          # object durable and visible, row COMPLETE
    except BaseException:
        writer.abort()                  # no bytes, no row left behind
        raise

    for chunk in iter_content(blob, start, end):   # plaintext [start, end)
        ...
"""

from __future__ import annotations

import collections
import concurrent.futures
import hashlib
import logging
import os
import secrets
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, ProtectedError, Q
from django.utils import timezone
from django.utils.translation import gettext

from files import crypto, keys, sha256state
from files.blobstore import ObjectMissing, get_blobstore
from files.models import Blob, File

logger = logging.getLogger(__name__)

HEAD_SIZE = 8192

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


class CorruptContent(Exception):
    """Stored content is tampered with, truncated, missing or cannot be decrypted."""


class ContentGone(Exception):
    """A complete blob was reclaimed as unreferenced before its File or Thumbnail row took it
    (only when attaching it took longer than LOCKER_ORPHAN_GRACE_HOURS)."""


def new_storage_key() -> str:
    """128 random bits as 32 hex characters; never derived from anything a user sends."""
    return secrets.token_hex(16)


class PipelinedSha256:
    """SHA-256 of a stream, computed in a helper thread one chunk behind the caller.

    On a CPU without SHA extensions SHA-256 costs more than receiving, encrypting and writing
    together (~3.8 CPU s/GiB, see bench/README.md); hashlib releases the GIL for large buffers,
    so hashing beside the request thread overlaps that work instead of adding to it. Only
    read-only buffers (bytes, views of bytes) are hashed behind the caller: they cannot change
    once handed over. Anything else is hashed at once. At most one chunk is in flight.
    """

    _ASYNC_MIN = 64 * 1024

    def __init__(self):
        self._hash = hashlib.sha256()
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._pending: concurrent.futures.Future | None = None

    def update(self, view: memoryview) -> None:
        self._wait()
        if not view.readonly or len(view) < self._ASYNC_MIN:
            self._hash.update(view)
            return
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="sha256"
            )
        self._pending = self._pool.submit(self._hash.update, view)

    def _wait(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def hexdigest(self) -> str:
        self._wait()
        return self._hash.hexdigest()

    def close(self) -> None:
        """Stop the helper thread; the digest stays readable. Safe to call more than once."""
        try:
            self._wait()
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None


def _new_writing_blob(
    segment_size: int, reservation_id: int | None = None
) -> tuple[Blob, crypto.SegmentEncryptor]:
    """A WRITING row with a fresh data key (wrapped) and random storage key, and its encryptor.

    Created (and, outside a transaction, committed) before any byte is stored, so a crash leaves
    a WRITING row that cleanup_abandoned_blobs() finds; `reservation_id` names the upload whose
    lease keeps it from the cleanup while the request lives.
    """
    data_key = crypto.new_data_key()
    encryptor = crypto.SegmentEncryptor(data_key, segment_size)
    storage_key = new_storage_key()
    master_key_id, wrapped = keys.wrap_for_new_blob(data_key, storage_key)
    blob = Blob.objects.create(
        storage_key=storage_key,
        master_key_id=master_key_id,
        wrapped_key=wrapped,
        segment_size=segment_size,
        size=0,
        state=Blob.State.WRITING,
        reservation_id=reservation_id,
    )
    return blob, encryptor


class ContentWriter:
    """Push-based writer: feed plaintext chunks of any size, then finish() or abort()."""

    def __init__(
        self, *, segment_size: int = crypto.DEFAULT_SEGMENT_SIZE, reservation_id: int | None = None
    ):
        self.size = 0
        self.sha256 = PipelinedSha256()
        self.head = b""
        self._buffer = bytearray()
        self._index = 0
        self._state = "open"  # open | finished | aborted | failed
        self._out = None
        self.segment_size = segment_size
        self.blob, self._encryptor = _new_writing_blob(segment_size, reservation_id)
        try:
            self._out = get_blobstore().writer(self.blob.storage_key)
            self._out.write(self._encryptor.header)
        except BaseException:
            self.abort()
            raise

    @property
    def buffered(self) -> int:
        """Bytes this writer holds in memory now (plaintext segment + storage part)."""
        return len(self._buffer) + (self._out.buffered if self._out else 0)

    def _check_open(self) -> None:
        if self._state != "open":
            raise RuntimeError(f"This content writer is {self._state}.")

    def _emit(self, plaintext, *, last: bool) -> None:
        sealed = self._encryptor.encrypt_segment(self._index, plaintext, last=last)
        self._out.write(sealed)
        self._index += 1

    def write(self, data) -> None:
        self._check_open()
        if not data:
            return
        view = memoryview(data).cast("B")
        self.sha256.update(view)
        if len(self.head) < HEAD_SIZE:
            self.head += bytes(view[: HEAD_SIZE - len(self.head)])
        self.size += len(view)
        segment = self.segment_size
        try:
            pos = 0
            if self._buffer:
                pos = min(segment - len(self._buffer), len(view))
                self._buffer += view[:pos]
                if pos == len(view):
                    return  # a full buffered segment may still be the last one
                self._emit(self._buffer, last=False)
                self._buffer = bytearray()
            # Encrypt whole segments straight from the caller's buffer; keep the tail (which
            # may turn out to be the last segment) until more data or finish() arrives.
            while len(view) - pos > segment:
                self._emit(view[pos : pos + segment], last=False)
                pos += segment
            self._buffer += view[pos:]
        except BaseException:
            self._state = "failed"
            raise

    def finish(self) -> Blob:
        self._check_open()
        try:
            self.sha256.close()
            self._emit(self._buffer, last=True)
            self._buffer = bytearray()
            self._out.finish()
            updated = Blob.objects.filter(pk=self.blob.pk, state=Blob.State.WRITING).update(
                state=Blob.State.COMPLETE, size=self.size, completed_at=timezone.now()
            )
            if not updated:
                raise CorruptContent("The blob was removed while it was being written.")
        except BaseException:
            self._state = "failed"
            raise
        self._state = "finished"
        self.blob.state = Blob.State.COMPLETE
        self.blob.size = self.size
        return self.blob

    def abort(self) -> None:
        """Remove every stored byte and the row. Never raises; safe to call more than once.

        After a successful finish() it still removes the blob (for a caller whose next step
        failed), unless a File already uses it: then it leaves everything in place.
        """
        if self._state == "aborted":
            return
        try:
            self.sha256.close()
        except Exception:  # noqa: BLE001 - the digest no longer matters
            logger.debug("hashing thread failed during abort", exc_info=True)
        finished = self._state == "finished"
        self._state = "aborted"
        if finished:
            try:
                if File.objects.filter(blob_id=self.blob.pk).exists():
                    logger.warning("Not aborting blob %s: a file uses it", self.blob.storage_key)
                    return
            except Exception:  # noqa: BLE001 - when in doubt, keep the bytes
                logger.warning("Could not check blob %s; kept", self.blob.pk, exc_info=True)
                return
        self._buffer = bytearray()
        key = self.blob.storage_key if getattr(self, "blob", None) else None
        if self._out is not None:
            try:
                self._out.abort()
            except Exception:  # noqa: BLE001 - never raise from abort
                logger.warning("Aborting the upload of %s failed", key, exc_info=True)
        if key is None:
            return
        try:
            store = get_blobstore()
            store.delete(key)
            store.discard_unfinished(key)
        except Exception:  # noqa: BLE001 - the orphan cleanup reclaims it later
            logger.warning("Could not remove the stored bytes of %s", key, exc_info=True)
        try:
            Blob.objects.filter(pk=self.blob.pk).delete()
        except Exception:  # noqa: BLE001 - cleanup_abandoned_blobs reclaims it later
            logger.warning("Could not delete the blob row of %s", key, exc_info=True)


def content_writer(
    *, segment_size: int = crypto.DEFAULT_SEGMENT_SIZE, reservation_id: int | None = None
) -> ContentWriter:
    """Start storing new content. Call outside a transaction so the row is committed at once.

    An upload passes its reservation: the cleanup leaves the blob alone while its lease lives.
    """
    return ContentWriter(segment_size=segment_size, reservation_id=reservation_id)


def _data_key(blob: Blob) -> bytes:
    try:
        return keys.unwrap_blob_key(blob)
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


def delete_blob(blob: Blob) -> None:
    """Delete the stored object, then the row. Idempotent.

    Refuses (ProtectedError) while a File still uses the blob, before touching its bytes.
    """
    if File.objects.filter(blob_id=blob.pk).exists():
        raise ProtectedError("A file still uses this blob; delete the file first.", {blob})
    store = get_blobstore()
    store.delete(blob.storage_key)
    if blob.state != Blob.State.COMPLETE:
        store.discard_unfinished(blob.storage_key)
    Blob.objects.filter(pk=blob.pk).delete()


def _in_batches(rows, batch_size: int = 500):
    """(pk, …) tuples by primary key, a batch at a time (no long-lived cursor)."""
    last_pk = 0
    while True:
        batch = list(rows.filter(pk__gt=last_pk).order_by("pk")[:batch_size])
        if not batch:
            return
        yield from batch
        last_pk = batch[-1][0]


def cleanup_abandoned_blobs(*, older_than: datetime, now: datetime | None = None) -> int:
    """Delete blobs still WRITING whose writer is gone; returns how many.

    A blob written for an upload is abandoned once that upload's reservation lease lapsed (a
    live request renews it); one of a tus upload is the tus cleanup's business; any other is
    abandoned when created before `older_than`, and never younger than LOCKER_UPLOAD_LEASE
    (a thumbnail being written holds no lease). Each row is claimed by a conditional delete
    (`WHERE state = writing`) before its bytes are removed, so two cleanups running at once, or
    a writer finishing meanwhile, never collide. Bytes whose removal fails are left to the
    orphan cleanup that lists the storage.
    """
    from django.conf import settings

    from files.models import UploadReservation

    now = now or timezone.now()
    unleased_before = min(older_than, now - timedelta(seconds=settings.LOCKER_UPLOAD_LEASE))
    store = get_blobstore()
    removed = 0
    candidates = Blob.objects.filter(state=Blob.State.WRITING, tus_upload__isnull=True).filter(
        Q(reservation__isnull=True, created_at__lt=unleased_before)
        | Q(reservation__isnull=False)
        & ~Q(reservation__in=UploadReservation.objects.live(now).values("pk"))
    )
    for pk, key in _in_batches(candidates.values_list("pk", "storage_key")):
        try:
            claimed, _ = Blob.objects.filter(pk=pk, state=Blob.State.WRITING).delete()
        except ProtectedError:
            logger.warning("Abandoned blob %s is referenced by a file; kept", key)
            continue
        if not claimed:
            continue
        removed += 1
        try:
            store.delete(key)
            store.discard_unfinished(key)
        except Exception:  # noqa: BLE001 - left for the orphan cleanup
            logger.warning("Could not remove the stored bytes of abandoned blob %s", key)
    return removed


def blobs_take_for_use(blob_ids) -> None:
    """Lock complete blobs that are getting their File or Thumbnail row now; call inside the
    transaction that creates the rows.

    The unreferenced-blob cleanup claims a blob by locking its row as well (skipping rows that
    are locked), so either this takes the blob first and the cleanup passes it by (and sees its
    new row next time), or the cleanup reclaimed it first and this raises ContentGone instead
    of creating a row that points at deleted bytes. On SQLite both run in IMMEDIATE
    transactions, one after the other, which gives the same order.
    """
    wanted = set(blob_ids)
    found = set(
        Blob.objects.select_for_update()
        .filter(pk__in=wanted, state=Blob.State.COMPLETE)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    if found != wanted:
        raise ContentGone(
            gettext(
                "The uploaded content was removed before it could be saved (it waited longer "
                "than the orphan grace period); upload it again."
            )
        )


# Primary keys covered by one query of the unreferenced-blob scan.
UNREFERENCED_SCAN_WINDOW = 20_000


def _unreferenced(older_than: datetime):
    """Complete blobs finished before `older_than` that no row of any model points at (File,
    Thumbnail, a tus upload: every relation to Blob, so a new one is covered without edits)."""
    unused = [
        ~Exists(
            relation.related_model._base_manager.filter(**{relation.field.name: OuterRef("pk")})
        )
        for relation in Blob._meta.related_objects
    ]
    return Blob.objects.filter(
        Q(completed_at__lt=older_than) | Q(completed_at__isnull=True, created_at__lt=older_than),
        *unused,
        state=Blob.State.COMPLETE,
    )


def cleanup_unreferenced_blobs(*, older_than: datetime, batch_size: int = 500) -> int:
    """Delete complete blobs that nothing references, finished before `older_than`; returns how
    many (rows and stored objects).

    What a crash between storing content and attaching it leaves behind: the parts of a
    multi-file upload whose process died before the File rows were created, a thumbnail whose
    worker was killed before its row was. The table is walked by primary key in windows of
    UNREFERENCED_SCAN_WINDOW, each one short query (anti-joins on the unique blob_id indexes),
    so time per query and memory stay bounded at any table size. Each batch is claimed under
    row locks (see blobs_take_for_use) and its rows deleted and committed before its objects
    are removed, in one request per thousand on S3; objects whose removal fails are left to
    the listing pass below.
    """
    store = get_blobstore()
    candidates = _unreferenced(older_than)
    bounds = Blob.objects.order_by("pk").values_list("pk", flat=True)
    first, top = bounds.first(), bounds.last()
    if first is None:
        return 0
    removed = 0
    cursor = first - 1
    while cursor < top:
        end = cursor + UNREFERENCED_SCAN_WINDOW
        pks = list(
            candidates.filter(pk__gt=cursor, pk__lte=end)
            .order_by("pk")
            .values_list("pk", flat=True)[:batch_size]
        )
        cursor = pks[-1] if len(pks) == batch_size else end
        if pks:
            removed += _reclaim_unreferenced(candidates, pks, store)
    return removed


def _reclaim_unreferenced(candidates, pks: list[int], store) -> int:
    try:
        with transaction.atomic():
            # Checked again under the lock: a row attached meanwhile keeps its blob.
            claimed = list(
                candidates.select_for_update(skip_locked=True)
                .filter(pk__in=pks)
                .values_list("pk", "storage_key")
            )
            if claimed:
                Blob.objects.filter(pk__in=[pk for pk, _key in claimed]).delete()
    except (ProtectedError, IntegrityError):
        logger.warning("Unreferenced blobs were taken meanwhile; kept", exc_info=True)
        return 0
    keys_ = [key for _pk, key in claimed]
    try:
        store.delete_many(keys_)
    except Exception:  # noqa: BLE001 - their rows are gone: the listing pass removes them later
        logger.warning("Could not remove the objects of %d unreferenced blobs", len(keys_))
    if keys_:
        logger.info("Reclaimed %d unreferenced blobs", len(keys_))
    return len(claimed)


def cleanup_orphaned_objects(*, older_than: datetime, batch_size: int = 500) -> int:
    """Delete stored objects and unfinished uploads that no Blob row owns; returns how many.

    Only those last modified before `older_than` are considered: a row is always created before
    its bytes, but the row of an upload in progress may sit in a transaction not committed yet.
    """
    store = get_blobstore()
    removed = 0
    for listing, remove in (
        (store.iter_objects(), store.delete),
        (store.iter_unfinished(), store.discard_unfinished),
    ):
        batch: list[str] = []
        for key, modified in listing:
            if modified < older_than:
                batch.append(key)
            if len(batch) >= batch_size:
                removed += _remove_unowned(batch, remove)
                batch = []
        if batch:
            removed += _remove_unowned(batch, remove)
    return removed


def _owner_key(key: str) -> str:
    """A tus upload's S3 stage object is named `<blob key><32 random hex>`: it is its blob's."""
    return key[:32] if len(key) == 64 else key


def _remove_unowned(keys_: list[str], remove) -> int:
    owned = set(
        Blob.objects.filter(storage_key__in={_owner_key(key) for key in keys_}).values_list(
            "storage_key", flat=True
        )
    )
    removed = 0
    for key in keys_:
        if _owner_key(key) in owned:
            continue
        try:
            remove(key)
        except Exception:  # noqa: BLE001 - try again on the next run
            logger.warning("Could not remove orphaned object %s", key, exc_info=True)
        else:
            removed += 1
    return removed


# --- resumable (tus) uploads --------------------------------------------------------------------


class ResumableState:
    """What a resumable upload needs between requests; all of it is stored in its TusUpload row."""

    def __init__(
        self, *, blob: Blob, header: bytes, tail: bytes, storage: dict, offset: int, length: int
    ):
        self.blob = blob
        self.header = bytes(header)
        self.tail = bytes(tail)
        self.storage = storage
        self.offset = offset
        self.length = length


def resumable_start(
    *, length: int, segment_size: int = crypto.DEFAULT_SEGMENT_SIZE, reservation_id=None
):
    """A new WRITING blob whose header is already stored; call outside a transaction."""
    blob, encryptor = _new_writing_blob(segment_size, reservation_id)
    try:
        appender = get_blobstore().appender(blob.storage_key, {})
        try:
            appender.append(encryptor.header)
            storage = appender.commit()
        finally:
            appender.close()
    except BaseException:
        resumable_discard(blob=blob, storage={})
        raise
    return ResumableState(
        blob=blob, header=encryptor.header, tail=b"", storage=storage, offset=0, length=length
    )


class ResumableWriter:
    """Continues a resumable upload in this request: plaintext in, sealed segments to storage.

    Complete segments are encrypted and appended at once (the declared length says which one is
    the last); the incomplete trailing segment stays in memory until `checkpoint()` seals it
    for the database. Holds at most one segment plus one storage part.
    """

    def __init__(self, state: ResumableState):
        blob = state.blob
        self.length = state.length
        self.offset = state.offset
        self._segment = blob.segment_size
        self._data_key = _data_key(blob)
        self._header = state.header
        try:
            self._encryptor = crypto.SegmentEncryptor.resume(self._data_key, state.header)
        except ValueError as exc:
            raise CorruptContent(f"Blob {blob.storage_key}: {exc}") from exc
        self._index = self.offset // self._segment
        try:
            opened = crypto.open_tail(self._data_key, state.header, self._index, state.tail)
        except crypto.DecryptionError as exc:
            raise CorruptContent(f"Blob {blob.storage_key}: {exc}") from exc
        # The sealed tail holds: a flag, the running SHA-256 state when the flag is 1 (see
        # files/sha256state.py), then the plaintext of the incomplete segment.
        self._hasher = None
        if not opened:
            pending = b""
            if self.offset == 0 and sha256state.available():
                self._hasher = sha256state.ResumableSha256()
        elif opened[0] == 1:
            state_end = 1 + sha256state.STATE_SIZE
            self._hasher = sha256state.ResumableSha256(opened[1:state_end])
            pending = opened[state_end:]
        else:
            pending = opened[1:]
        self._hashing = None
        self._hash_jobs: list = []
        if len(pending) != self.offset % self._segment:
            raise CorruptContent(f"Blob {blob.storage_key}: the pending tail has a wrong size.")
        self._pending = bytearray(pending)
        self.blob = blob
        try:
            self._appender = get_blobstore().appender(blob.storage_key, state.storage)
        except ObjectMissing:
            raise CorruptContent(f"Blob {blob.storage_key}: the partial object is gone.") from None

    def _emit(self, plaintext) -> None:
        last = (self._index + 1) * self._segment >= self.length
        self._appender.append(self._encryptor.encrypt_segment(self._index, plaintext, last=last))
        self._index += 1

    @property
    def sha256(self) -> str | None:
        """The content's SHA-256 once finished, when it was hashed on the way (else None)."""
        if self._hasher is None or self.offset != self.length:
            return None
        self._wait_for_hashing()
        return self._hasher.hexdigest()

    def _hash(self, data: bytes) -> None:
        # One thread per request hashes in order beside this one (ctypes releases the GIL).
        if self._hashing is None:
            from concurrent.futures import ThreadPoolExecutor

            self._hashing = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tus-sha256")
        self._hash_jobs.append(self._hashing.submit(self._hasher.update, data))
        while len(self._hash_jobs) > 4:  # bounded: a few chunks of memory at most
            self._hash_jobs.pop(0).result()

    def _wait_for_hashing(self) -> None:
        while self._hash_jobs:
            self._hash_jobs.pop(0).result()

    def write(self, data) -> None:
        if self._hasher is not None and data:
            self._hash(bytes(data))
        view = memoryview(data).cast("B")
        if self.offset + len(view) > self.length:
            raise ValueError("More bytes than the upload's declared length.")
        self.offset += len(view)
        segment = self._segment
        pos = 0
        if self._pending:
            pos = min(segment - len(self._pending), len(view))
            self._pending += view[:pos]
            if len(self._pending) < segment and self.offset < self.length:
                return
            self._emit(self._pending)
            self._pending = bytearray()
        while len(view) - pos >= segment:
            self._emit(view[pos : pos + segment])
            pos += segment
        self._pending += view[pos:]
        if self._pending and self.offset == self.length:
            self._emit(self._pending)
            self._pending = bytearray()

    def checkpoint(self) -> tuple[int, bytes, dict]:
        """Make what was written durable: (offset, sealed tail, storage state) to store."""
        storage = self._appender.commit()
        if self._hasher is not None:
            self._wait_for_hashing()
            payload = b"\x01" + self._hasher.state() + bytes(self._pending)
        else:
            payload = b"\x00" + bytes(self._pending)
        tail = crypto.seal_tail(self._data_key, self._header, self._index, payload)
        return self.offset, tail, storage

    def finish(self) -> Blob:
        """Publish the complete object (offset must equal length) and mark the blob COMPLETE."""
        if self.offset != self.length:
            raise ValueError("The upload is not complete.")
        if self.length == 0 and self._index == 0:
            self._emit(b"")
        self._appender.complete()
        updated = Blob.objects.filter(pk=self.blob.pk, state=Blob.State.WRITING).update(
            state=Blob.State.COMPLETE, size=self.length, completed_at=timezone.now()
        )
        if not updated:
            raise CorruptContent("The blob was removed while it was being written.")
        self.blob.state = Blob.State.COMPLETE
        self.blob.size = self.length
        return self.blob

    def close(self) -> None:
        self._pending = bytearray()
        self._appender.close()
        if self._hashing is not None:
            self._hashing.shutdown(wait=True, cancel_futures=True)
            self._hashing = None
            self._hash_jobs = []


def resumable_discard(*, blob: Blob, storage: dict) -> None:
    """Remove an unfinished resumable upload's bytes and its blob row. Never raises."""
    store = get_blobstore()
    key = blob.storage_key
    try:
        if storage:
            store.appender(key, storage).discard()
    except Exception:  # noqa: BLE001 - orphan cleanup reclaims it later
        logger.warning("Could not discard the resumable upload %s", key, exc_info=True)
    try:
        store.discard_unfinished(key)
        store.delete(key)
    except Exception:  # noqa: BLE001
        logger.warning("Could not remove the stored bytes of %s", key, exc_info=True)
    try:
        Blob.objects.filter(pk=blob.pk).delete()
    except Exception:  # noqa: BLE001 - cleanup_abandoned_blobs reclaims it later
        logger.warning("Could not delete the blob row of %s", key, exc_info=True)


def content_head(blob: Blob) -> bytes:
    """The first HEAD_SIZE bytes of a complete blob (one segment read)."""
    return b"".join(iter_content(blob, 0, min(HEAD_SIZE, blob.size)))


def content_digest(blob: Blob) -> tuple[str, bytes]:
    """(SHA-256 hex, first HEAD_SIZE bytes) of a complete blob, by reading it once.

    A resumable upload cannot carry a running hash between requests (hashlib state does not
    serialise), so it is computed here at completion; docs/tus.md has the cost.
    """
    digest = hashlib.sha256()
    head = b""
    for chunk in iter_content(blob):
        digest.update(chunk)
        if len(head) < HEAD_SIZE:
            head += bytes(chunk[: HEAD_SIZE - len(head)])
    return digest.hexdigest(), head
