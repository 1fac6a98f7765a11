"""Long reads are decrypted one batch ahead in a helper thread: same bytes, same failures, and
nothing left running when the reader stops early."""

import os
import threading

import pytest

from storage import crypto, reader
from storage.exceptions import CorruptContent
from storage.reader import iter_content
from tests.storage.test_writer_reader import replace_object, store, stored_object

SEGMENT = crypto.MIN_SEGMENT_SIZE
COUNT = 20  # segments: with two-segment batches, ten batches

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def small_batches(monkeypatch):
    monkeypatch.setattr(reader, "READ_AHEAD_BYTES", 2 * SEGMENT)


def decrypt_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("decrypt")]


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (0, None),
        (1, COUNT * SEGMENT + 76),
        (SEGMENT - 1, 9 * SEGMENT + 1),  # starts and ends inside batches
        (2 * SEGMENT, 8 * SEGMENT),  # batch-aligned
        (3 * SEGMENT + 5, 3 * SEGMENT + 6),  # one byte: no helper
    ],
)
def test_read_ahead_returns_exactly_the_requested_bytes(storage_backend, start, end):
    data = os.urandom(COUNT * SEGMENT + 77)
    blob = store(data, piece=50_000)
    assert b"".join(iter_content(blob, start, end)) == data[start:end]


def test_a_long_read_is_decrypted_by_a_helper_thread(local_storage_settings):
    blob = store(os.urandom(COUNT * SEGMENT))
    chunks = iter_content(blob)
    next(chunks)
    assert len(decrypt_threads()) == 1
    for _ in chunks:
        pass
    assert decrypt_threads() == []


def test_a_short_read_needs_no_helper_thread(local_storage_settings):
    blob = store(os.urandom(COUNT * SEGMENT))
    chunks = iter_content(blob, 0, 4 * SEGMENT)  # two batches
    next(chunks)
    assert decrypt_threads() == []
    chunks.close()


def test_good_segments_arrive_before_the_tampered_one_fails(storage_backend):
    data = os.urandom(COUNT * SEGMENT)
    blob = store(data)
    raw = bytearray(stored_object(blob.storage_key))
    raw[crypto.segment_offset(15, SEGMENT) + 7] ^= 0x40
    replace_object(blob.storage_key, bytes(raw))
    received = bytearray()
    with pytest.raises(CorruptContent, match="Segment 15"):
        for chunk in iter_content(blob):
            received += chunk
    assert received == data[: 15 * SEGMENT]
    assert decrypt_threads() == []


def test_a_truncated_object_fails_in_order_too(local_storage_settings):
    data = os.urandom(COUNT * SEGMENT)
    blob = store(data)
    raw = stored_object(blob.storage_key)
    replace_object(blob.storage_key, raw[: crypto.segment_offset(12, SEGMENT) + 3])
    # The length check catches it before any byte is sent: a caller can still answer 500.
    with pytest.raises(CorruptContent, match="wrong length"):
        iter_content(blob)


def test_stopping_early_stops_the_helper_and_closes_the_object(local_storage_settings):
    blob = store(os.urandom(COUNT * SEGMENT))
    open_before = len(os.listdir("/proc/self/fd"))
    chunks = iter_content(blob)
    for _ in range(3):
        next(chunks)
    chunks.close()  # what the WSGI server does when the client goes away
    assert decrypt_threads() == []
    assert len(os.listdir("/proc/self/fd")) == open_before
