"""storage.writer and storage.reader on both backends: streaming writes, ranged reads, abort,
delete."""

import hashlib
import os

import pytest

from storage import crypto
from storage.backends import get_blobstore
from storage.backends.local import WindowedWriter
from storage.backends.s3 import PART_SIZE
from storage.blobs import delete_blob
from storage.exceptions import CorruptContent
from storage.models import Blob
from storage.reader import iter_content
from storage.writer import HEAD_SIZE, ContentWriter, content_writer

SEGMENT = crypto.MIN_SEGMENT_SIZE  # small segments: many of them in little data

pytestmark = pytest.mark.django_db(transaction=True)


def store(data: bytes, *, piece: int = 10_000, segment_size: int = SEGMENT) -> Blob:
    writer = content_writer(segment_size=segment_size)
    for offset in range(0, len(data), piece):
        writer.write(data[offset : offset + piece])
    return writer.finish()


def read(blob: Blob, start: int = 0, end: int | None = None) -> bytes:
    return b"".join(iter_content(blob, start, end))


def stored_object(key: str) -> bytes:
    blobstore = get_blobstore()
    with blobstore.open_range(key, 0, 1) as probe:
        total = probe.total_size
    with blobstore.open_range(key, 0, total) as reader:
        return reader.read_exact(total)


def replace_object(key: str, data: bytes) -> None:
    """What an attacker with write access to the disk or bucket does."""
    writer = get_blobstore().writer(key)
    writer.write(data)
    writer.finish()


@pytest.mark.parametrize(
    "size", [0, 1, SEGMENT - 1, SEGMENT, SEGMENT + 1, 5 * SEGMENT, 5 * SEGMENT + 77]
)
def test_content_round_trips(storage_backend, size):
    data = os.urandom(size)
    blob = store(data, piece=7_777)
    assert blob.state == Blob.State.COMPLETE
    assert blob.size == size
    assert read(blob) == data
    blob.refresh_from_db()
    assert (blob.state, blob.size, blob.segment_size) == (Blob.State.COMPLETE, size, SEGMENT)


def test_large_content_in_several_storage_parts_round_trips(storage_backend):
    data = os.urandom(2 * PART_SIZE + 3 * crypto.DEFAULT_SEGMENT_SIZE + 5)
    blob = store(data, piece=1 << 20, segment_size=crypto.DEFAULT_SEGMENT_SIZE)
    assert hashlib.sha256(read(blob)).digest() == hashlib.sha256(data).digest()
    middle = PART_SIZE + 12345
    assert (
        read(blob, middle, middle + 3 * crypto.DEFAULT_SEGMENT_SIZE)
        == (data[middle : middle + 3 * crypto.DEFAULT_SEGMENT_SIZE])
    )


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (0, 1),
        (SEGMENT - 1, SEGMENT + 1),  # straddles a boundary
        (SEGMENT, 2 * SEGMENT),  # exactly one segment
        (SEGMENT + 5, 4 * SEGMENT - 5),  # spans several segments
        (4 * SEGMENT + 10, None),  # to the end, starting in the last segment
        (0, None),
        (100, 100),  # empty range
    ],
)
def test_ranges_across_segment_boundaries(storage_backend, start, end):
    data = os.urandom(4 * SEGMENT + 500)
    blob = store(data)
    assert read(blob, start, end) == data[start:end]


@pytest.mark.parametrize(("start", "end"), [(-1, 5), (5, 4), (0, 10_001)])
def test_ranges_outside_the_content_are_refused(local_storage_settings, start, end):
    blob = store(b"x" * 10_000)
    with pytest.raises(ValueError):
        iter_content(blob, start, end)


def test_a_blob_still_being_written_cannot_be_read(local_storage_settings):
    writer = content_writer()
    writer.write(b"not yet")
    with pytest.raises(ValueError):
        iter_content(writer.blob)
    writer.abort()


def test_read_decrypts_only_the_segments_of_the_range(storage_backend):
    data = os.urandom(4 * SEGMENT)
    blob = store(data)
    raw = bytearray(stored_object(blob.storage_key))
    raw[crypto.segment_offset(2, SEGMENT) + 100] ^= 0x01  # damage segment 2 only
    replace_object(blob.storage_key, bytes(raw))
    assert read(blob, 0, 2 * SEGMENT) == data[: 2 * SEGMENT]
    assert read(blob, 3 * SEGMENT, None) == data[3 * SEGMENT :]
    with pytest.raises(CorruptContent):
        read(blob, 2 * SEGMENT + 5, 2 * SEGMENT + 6)
    with pytest.raises(CorruptContent):
        read(blob)


def test_chunks_are_bounded_by_the_segment_size(storage_backend):
    blob = store(
        os.urandom(2 * crypto.DEFAULT_SEGMENT_SIZE + 9),
        piece=1 << 20,
        segment_size=crypto.DEFAULT_SEGMENT_SIZE,
    )
    chunks = list(iter_content(blob))
    assert max(len(chunk) for chunk in chunks) <= crypto.DEFAULT_SEGMENT_SIZE


def test_writer_reports_size_digest_and_head(storage_backend):
    data = os.urandom(3 * HEAD_SIZE)
    writer = content_writer(segment_size=SEGMENT)
    writer.write(data[:100])
    assert writer.head == data[:100]
    writer.write(data[100:])
    assert writer.size == len(data)
    assert writer.head == data[:HEAD_SIZE]
    assert writer.sha256.hexdigest() == hashlib.sha256(data).hexdigest()
    writer.finish()


def test_writer_row_is_committed_with_a_random_key_before_bytes_arrive(storage_backend):
    first = content_writer()
    second = content_writer()
    rows = Blob.objects.filter(pk__in=[first.blob.pk, second.blob.pk], state=Blob.State.WRITING)
    assert rows.count() == 2
    assert first.blob.storage_key != second.blob.storage_key
    assert len(first.blob.storage_key) == 32
    first.abort()
    second.abort()


def test_stored_object_appears_only_at_finish(storage_backend):
    writer = content_writer(segment_size=SEGMENT)
    writer.write(os.urandom(5 * SEGMENT))
    key = writer.blob.storage_key
    assert not get_blobstore().exists(key)
    assert [k for k, _ in get_blobstore().iter_objects()] == []
    writer.finish()
    assert [k for k, _ in get_blobstore().iter_objects()] == [key]


def test_stored_object_is_ciphertext_of_the_documented_size(storage_backend):
    data = b"A" * (3 * SEGMENT + 1)
    blob = store(data)
    raw = stored_object(blob.storage_key)
    assert len(raw) == crypto.encrypted_size(len(data), SEGMENT)
    assert b"AAAAAAAA" not in raw
    assert raw[:4] == crypto.MAGIC


def test_abort_leaves_no_object_and_no_row(storage_backend):
    writer = content_writer()
    writer.write(os.urandom(PART_SIZE + 3 * crypto.DEFAULT_SEGMENT_SIZE))  # S3: a part is up
    pk = writer.blob.pk
    writer.abort()
    writer.abort()
    assert not Blob.objects.filter(pk=pk).exists()
    assert list(get_blobstore().iter_objects()) == []
    assert list(get_blobstore().iter_unfinished()) == []


def test_writer_refuses_bytes_after_abort_or_finish(storage_backend):
    writer = content_writer()
    writer.abort()
    with pytest.raises(RuntimeError):
        writer.write(b"late")
    done = content_writer()
    done.finish()
    with pytest.raises(RuntimeError):
        done.write(b"late")


def test_abort_after_a_failed_finish_cleans_up(storage_backend):
    writer = content_writer(segment_size=SEGMENT)
    writer.write(os.urandom(2 * SEGMENT))
    # A cleanup removed the row meanwhile: finish() must fail rather than leave bytes unowned.
    Blob.objects.filter(pk=writer.blob.pk).delete()
    with pytest.raises(CorruptContent):
        writer.finish()
    writer.abort()
    assert list(get_blobstore().iter_objects()) == []
    assert list(get_blobstore().iter_unfinished()) == []


def test_delete_blob_removes_object_and_row_and_is_idempotent(storage_backend):
    blob = store(os.urandom(1000))
    delete_blob(blob)
    delete_blob(blob)
    assert not Blob.objects.filter(pk=blob.pk).exists()
    assert list(get_blobstore().iter_objects()) == []


def test_writing_64_mib_never_buffers_more_than_a_segment_and_a_part(storage_backend):
    writer = content_writer()
    piece = os.urandom(1 << 20)
    high_water = 0
    for _ in range(64):
        writer.write(piece)
        high_water = max(high_water, writer.buffered)
    writer.finish()
    assert high_water <= crypto.DEFAULT_SEGMENT_SIZE + PART_SIZE + crypto.DEFAULT_SEGMENT_SIZE
    assert writer.blob.size == 64 << 20


def test_a_huge_single_write_is_encrypted_without_being_buffered(local_storage_settings):
    writer = content_writer(segment_size=SEGMENT)
    writer.write(os.urandom(20 * SEGMENT + 3))
    # The unsealed tail, plus the sealed segments on their way to the disk.
    in_flight = WindowedWriter.MAX_IN_FLIGHT * (SEGMENT + crypto.TAG_SIZE)
    assert writer.buffered <= SEGMENT + in_flight
    writer.finish()


def test_content_writer_is_the_documented_type(local_storage_settings):
    writer = content_writer()
    assert isinstance(writer, ContentWriter)
    writer.abort()


def test_digest_is_right_when_large_chunks_are_hashed_beside_the_writer(local_storage_settings):
    chunks = [os.urandom(700_000) for _ in range(5)] + [memoryview(os.urandom(300_000))[1:]]
    writer = content_writer()
    for chunk in chunks:
        writer.write(chunk)
    writer.finish()
    expected = hashlib.sha256(b"".join(bytes(c) for c in chunks)).hexdigest()
    assert writer.sha256.hexdigest() == expected


def test_digest_is_right_when_the_caller_reuses_a_writable_buffer(local_storage_settings):
    buffer = bytearray(500_000)
    written = []
    writer = content_writer()
    for fill in (b"a", b"b", b"c"):
        buffer[:] = fill * len(buffer)
        written.append(bytes(buffer))
        writer.write(buffer)  # mutated again right after: it must have been hashed already
    writer.finish()
    assert writer.sha256.hexdigest() == hashlib.sha256(b"".join(written)).hexdigest()
