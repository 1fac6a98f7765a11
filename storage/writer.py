"""Storing new content: a push-based writer that encrypts as the bytes arrive.

Memory stays flat in file size: a writer holds at most one plaintext segment plus one storage
part (or, on local disk, four sealed segments on their way to the file).

    writer = content_writer()          # Blob row (WRITING) committed now, random storage key
    try:
        for chunk in request_chunks:
            writer.write(chunk)         # writer.size, writer.sha256, writer.head available
        blob = writer.finish()          # object durable and visible, row COMPLETE
    except BaseException:
        writer.abort()                  # no bytes, no row left behind
        raise

Reading it back is storage/reader.py; a write that spans requests (tus) is storage/resumable.py.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import logging
import secrets

from django.utils import timezone

from storage import crypto, masterkeys
from storage.backends import get_blobstore
from storage.blobs import blob_used_by
from storage.exceptions import CorruptContent
from storage.models import Blob

logger = logging.getLogger(__name__)

# The first bytes of content a writer keeps (for type sniffing), and content_head() returns.
HEAD_SIZE = 8192


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


def new_writing_blob(
    segment_size: int, holder: int | None = None
) -> tuple[Blob, crypto.SegmentEncryptor]:
    """A WRITING row with a fresh data key (wrapped) and random storage key, and its encryptor.

    Created (and, outside a transaction, committed) before any byte is stored, so a crash leaves
    a WRITING row that cleanup_abandoned_blobs() finds; `holder` names what is writing it (an
    upload's reservation), whose lease keeps it from that cleanup while the writer lives.
    """
    data_key = crypto.new_data_key()
    encryptor = crypto.SegmentEncryptor(data_key, segment_size)
    storage_key = new_storage_key()
    master_key_id, wrapped = masterkeys.wrap_for_new_blob(data_key, storage_key)
    blob = Blob.objects.create(
        storage_key=storage_key,
        master_key_id=master_key_id,
        wrapped_key=wrapped,
        segment_size=segment_size,
        size=0,
        state=Blob.State.WRITING,
        holder=holder,
    )
    return blob, encryptor


class ContentWriter:
    """Push-based writer: feed plaintext chunks of any size, then finish() or abort()."""

    def __init__(
        self, *, segment_size: int = crypto.DEFAULT_SEGMENT_SIZE, holder: int | None = None
    ):
        self.size = 0
        self.sha256 = PipelinedSha256()
        self.head = b""
        self._buffer = bytearray()
        self._index = 0
        self._state = "open"  # open | finished | aborted | failed
        self._out = None
        self.segment_size = segment_size
        self.blob, self._encryptor = new_writing_blob(segment_size, holder)
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
        failed), unless a row that protects it already uses it (a file, a thumbnail): then it
        leaves everything in place.
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
                if users := blob_used_by(self.blob.pk, protecting_only=True):
                    logger.warning(
                        "Not aborting blob %s: a %s uses it", self.blob.storage_key, users[0]
                    )
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
    *, segment_size: int = crypto.DEFAULT_SEGMENT_SIZE, holder: int | None = None
) -> ContentWriter:
    """Start storing new content. Call outside a transaction so the row is committed at once.

    An upload passes its reservation as `holder`: the abandoned-blob cleanup leaves the blob
    alone while that reservation's lease lives.
    """
    return ContentWriter(segment_size=segment_size, holder=holder)
