"""What a process holds while many downloads run at once (issue 12, item 8).

Two structural bounds, independent of timing:
- every thread of a process reads S3 through one shared client (django-storages made a boto3
  session of ~12.5 MiB per thread, which was most of a worker's growth under S3);
- the batches decrypted ahead, summed over all the reads of a process, stay within
  LOCKER_READ_AHEAD_MEMORY however many reads are open (each read used to run two batches ahead
  on its own).
"""

import gc
import os
import threading
from concurrent.futures import Future

import pytest
from botocore.client import BaseClient

from storage import crypto, reader
from storage.backends import get_blobstore
from storage.reader import iter_content, read_ahead_held
from tests.storage.test_writer_reader import store

SEGMENT = crypto.MIN_SEGMENT_SIZE
BATCH = 2 * SEGMENT
COUNT = 20  # segments per file: ten batches, long enough for read-ahead
READS = 10

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def small_batches(monkeypatch):
    monkeypatch.setattr(reader, "READ_AHEAD_BYTES", BATCH)


def alive(kind) -> int:
    """Objects of `kind` in this process (type(), not isinstance: weak proxies pass that)."""
    gc.collect()
    return sum(1 for obj in gc.get_objects() if issubclass(type(obj), kind))


def decrypt_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("decrypt")]


def test_concurrent_s3_reads_in_many_threads_share_one_client(s3_settings, settings):
    data = os.urandom(COUNT * SEGMENT + 5)
    blob = store(data)
    clients_before = alive(BaseClient)
    seen: list[int] = []
    received: dict[int, bytes] = {}
    errors: list[BaseException] = []
    parked = threading.Barrier(READS + 1)
    release = threading.Event()

    def read(n: int) -> None:
        try:
            chunks = iter_content(blob)  # opens the ranged GET in this thread
            first = next(chunks)
            seen.append(id(get_blobstore().client))
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)
            parked.wait()
            return
        parked.wait()
        release.wait()
        received[n] = first + b"".join(chunks)

    threads = [threading.Thread(target=read, args=(n,)) for n in range(READS)]
    for thread in threads:
        thread.start()
    parked.wait()  # every read is open and streaming now
    clients_during = alive(BaseClient)
    release.set()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len(set(seen)) == 1, f"{len(set(seen))} S3 clients for {READS} threads"
    assert clients_during - clients_before == 0
    assert get_blobstore().client.meta.config.max_pool_connections == (
        settings.LOCKER_S3_MAX_CONNECTIONS
    )
    assert all(received[n] == data for n in range(READS))


def test_concurrent_long_reads_hold_no_more_than_the_read_ahead_budget(storage_backend, settings):
    settings.LOCKER_READ_AHEAD_MEMORY = 4 * BATCH
    files = [os.urandom(COUNT * SEGMENT + n) for n in range(3)]
    blobs = [store(data) for data in files]
    futures_before = alive(Future)
    reads = [iter_content(blobs[n % len(blobs)]) for n in range(READS)]
    received = [bytearray() for _ in range(READS)]
    most_ahead = 0
    # Every read is opened and advanced one chunk at a time, in turn, so that all of them are
    # in the middle of their file at once; each batch handed to a helper thread is a Future,
    # counted after each round.
    active = set(range(READS))
    while active:
        for n in sorted(active):
            chunk = next(reads[n], None)
            if chunk is None:
                active.discard(n)
                continue
            received[n] += chunk
            assert read_ahead_held() <= settings.LOCKER_READ_AHEAD_MEMORY
        most_ahead = max(most_ahead, alive(Future) - futures_before)
    assert most_ahead <= 4, f"{most_ahead} batches decrypted ahead at once (budget: 4)"
    assert most_ahead >= 1  # read-ahead still happens within the budget
    for n in range(READS):
        assert received[n] == files[n % len(files)]
    assert read_ahead_held() == 0
    assert decrypt_threads() == []


def test_reads_stopped_early_give_their_read_ahead_back(local_storage_settings, settings):
    settings.LOCKER_READ_AHEAD_MEMORY = 4 * BATCH
    blob = store(os.urandom(COUNT * SEGMENT))
    reads = [iter_content(blob) for _ in range(3)]
    for chunks in reads:
        next(chunks)
    assert read_ahead_held() > 0
    for chunks in reads:
        chunks.close()  # what the WSGI server does when a client goes away
    assert read_ahead_held() == 0
    assert decrypt_threads() == []


def test_reads_without_any_read_ahead_budget_still_return_every_byte(
    local_storage_settings, settings
):
    settings.LOCKER_READ_AHEAD_MEMORY = 0
    data = os.urandom(COUNT * SEGMENT + 99)
    blob = store(data)
    assert b"".join(iter_content(blob, 7, len(data) - 3)) == data[7:-3]
    assert decrypt_threads() == []
