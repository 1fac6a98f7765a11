"""Content written over several requests, possibly by several processes (tus uploads).

Complete segments are encrypted and appended to the backend's Appender at once; the trailing
incomplete segment, and the running SHA-256 state, are sealed under the blob's data key and
handed back to the caller to store between requests (docs/tus.md, docs/encryption.md).
"""

from __future__ import annotations

import logging

from django.utils import timezone

from storage import crypto, sha256state
from storage.backends import get_blobstore
from storage.backends.base import ObjectMissing
from storage.exceptions import CorruptContent
from storage.models import Blob
from storage.reader import _data_key
from storage.writer import new_writing_blob

logger = logging.getLogger(__name__)


class ResumableState:
    """What a resumable upload needs between requests; the caller stores all of it (a tus
    upload: in its TusUpload row) and nothing stays in process memory."""

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
    *, length: int, segment_size: int = crypto.DEFAULT_SEGMENT_SIZE, holder: int | None = None
):
    """A new WRITING blob whose header is already stored; call outside a transaction.

    `holder` as for content_writer() (an upload's reservation)."""
    blob, encryptor = new_writing_blob(segment_size, holder)
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
        # Once every byte is written the last segment is out too, short or not: the tail is
        # sealed under the index after it (a completion that failed is finished from here).
        self._index = (
            -(-self.offset // self._segment)
            if self.offset == self.length
            else (self.offset // self._segment)
        )
        try:
            opened = crypto.open_tail(self._data_key, state.header, self._index, state.tail)
        except crypto.DecryptionError as exc:
            raise CorruptContent(f"Blob {blob.storage_key}: {exc}") from exc
        # The sealed tail holds: a flag, the running SHA-256 state when the flag is 1 (see
        # storage/sha256state.py), then the plaintext of the incomplete segment.
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
        if len(pending) != (0 if self.offset == self.length else self.offset % self._segment):
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

    def committed(self) -> None:
        """The caller stored what checkpoint() returned; what only the previous state needed
        can go (see storage.backends.base.Appender)."""
        self._appender.committed()

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


def resumable_finished(state: ResumableState) -> Blob | None:
    """The blob of an upload whose object was already published, marked complete: what a
    `finish()` leaves when its caller died (or lost the database) before recording what uses
    the blob; None when the object was not published. The caller records it now."""
    blob = state.blob
    if state.offset != state.length or not get_blobstore().exists(blob.storage_key):
        return None
    if blob.state == Blob.State.WRITING:
        Blob.objects.filter(pk=blob.pk, state=Blob.State.WRITING).update(
            state=Blob.State.COMPLETE, size=state.length, completed_at=timezone.now()
        )
        blob.refresh_from_db()
    return blob if blob.state == Blob.State.COMPLETE else None


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
