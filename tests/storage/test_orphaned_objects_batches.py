"""The listing pass of the orphan cleanup (storage.cleanup.cleanup_orphaned_objects) in batches
within the job time budget, resuming where the last run stopped, on both backends."""

import os
from datetime import timedelta

import pytest
from django.utils import timezone

from storage import cleanup
from storage.backends import get_blobstore
from storage.backends.s3 import PART_SIZE
from storage.writer import content_writer, new_storage_key
from tests.storage.test_writer_reader import read, store
from tests.workers.test_cleanup import _orphan

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def one_batch_a_run(settings):
    """Batches of two keys, and a budget that is over at once: a run does one batch a listing."""
    settings.LOCKER_JOB_BATCH_SIZE = 2
    settings.LOCKER_JOB_TIME_BUDGET = 0


def _orphan_unfinished() -> str:
    key = new_storage_key()
    get_blobstore().writer(key).write(os.urandom(PART_SIZE + 1))  # left behind by a crash
    return key


def _cleanup() -> int:
    return cleanup.cleanup_orphaned_objects(older_than=timezone.now() + timedelta(seconds=5))


def _listed() -> tuple[set[str], set[str]]:
    store_ = get_blobstore()
    return {k for k, _ in store_.iter_objects()}, {k for k, _ in store_.iter_unfinished()}


def test_listings_are_in_key_order_and_resume_after_a_key(storage_backend):
    keys = sorted(_orphan() for _ in range(5))
    store_ = get_blobstore()
    assert [k for k, _ in store_.iter_objects()] == keys
    assert [k for k, _ in store_.iter_objects(after=keys[1])] == keys[2:]
    assert [k for k, _ in store_.iter_objects(after=keys[-1])] == []
    unfinished = sorted(_orphan_unfinished() for _ in range(2))
    assert [k for k, _ in store_.iter_unfinished(after=unfinished[0])] == unfinished[1:]


def test_a_listing_out_of_time_resumes_where_it_stopped(storage_backend, one_batch_a_run):
    owned = [store(b"owned %d" % i) for i in range(2)]
    orphans = {_orphan() for _ in range(5)}
    stray_uploads = {_orphan_unfinished() for _ in range(2)}
    in_progress = content_writer()  # its row is WRITING: its unfinished upload is its own
    in_progress.write(os.urandom(PART_SIZE + 1))

    first = _cleanup()
    objects, unfinished = _listed()
    assert first <= 4  # a batch of each listing, no more
    assert len(objects & orphans) >= 3  # two of seven objects listed
    runs = [first] + [_cleanup() for _ in range(5)]

    assert sum(runs) == len(orphans) + len(stray_uploads)
    objects, unfinished = _listed()
    assert objects == {blob.storage_key for blob in owned}
    assert unfinished == {in_progress.blob.storage_key}
    assert [read(blob) for blob in owned] == [b"owned 0", b"owned 1"]
    in_progress.write(b"more")
    in_progress.finish()
    assert in_progress.blob.storage_key in _listed()[0]


def test_a_run_killed_before_recording_its_progress_loses_nothing(storage_backend, one_batch_a_run):
    """A kill after a batch was handled and before the marker moved leaves the marker where it
    was: the next run does that batch again, and deletes nothing it should not."""
    owned = [store(b"owned %d" % i) for i in range(3)]
    orphans = {_orphan() for _ in range(5)}
    runs = []
    for _ in range(6):
        marker = cleanup._OBJECTS_AFTER.get()
        runs.append(_cleanup())
        cleanup._OBJECTS_AFTER.set(marker)  # as the kill left it
        runs.append(_cleanup())
    assert sum(runs) == len(orphans)
    assert _listed()[0] == {blob.storage_key for blob in owned}
    assert [read(blob) for blob in owned] == [b"owned 0", b"owned 1", b"owned 2"]


def test_an_orphan_behind_the_marker_is_found_once_the_listing_starts_over(
    local_storage_settings, one_batch_a_run
):
    for _ in range(6):
        _orphan()
    assert _cleanup() == 2
    behind = "0" * 32  # sorts before every key listed so far
    writer = get_blobstore().writer(behind)
    writer.write(b"left behind")
    writer.finish()
    runs = [_cleanup() for _ in range(4)]
    assert sum(runs) == 5
    assert _listed()[0] == set()  # the six and the late one


def test_a_run_with_time_left_lists_everything_in_one_go(local_storage_settings, settings):
    settings.LOCKER_JOB_BATCH_SIZE = 2
    orphans = {_orphan() for _ in range(7)}
    assert _cleanup() == len(orphans)
    assert cleanup._OBJECTS_AFTER.get() is None  # reached the end: the next run starts over
