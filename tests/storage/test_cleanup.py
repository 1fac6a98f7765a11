"""storage.cleanup on both backends: blobs nobody finished writing, stored objects no row owns.
Complete blobs nobody uses are in test_unreferenced_blobs.py."""

import os
from datetime import timedelta

import pytest
from django.utils import timezone

from storage.backends import get_blobstore
from storage.backends.s3 import PART_SIZE
from storage.cleanup import cleanup_abandoned_blobs, cleanup_orphaned_objects
from storage.models import Blob
from storage.writer import content_writer
from tests.storage.test_writer_reader import SEGMENT, read, store

pytestmark = pytest.mark.django_db(transaction=True)


def test_cleanup_removes_only_old_blobs_still_being_written(storage_backend):
    now = timezone.now()
    old_writing = content_writer()
    old_writing.write(os.urandom(PART_SIZE + 1))
    new_writing = content_writer()
    new_writing.write(b"recent")
    old_complete = store(b"kept")
    Blob.objects.filter(pk__in=[old_writing.blob.pk, old_complete.pk]).update(
        created_at=now - timedelta(days=2)
    )

    assert cleanup_abandoned_blobs(older_than=now - timedelta(days=1)) == 1
    assert cleanup_abandoned_blobs(older_than=now - timedelta(days=1)) == 0

    assert set(Blob.objects.values_list("pk", flat=True)) == {new_writing.blob.pk, old_complete.pk}
    unfinished = [k for k, _ in get_blobstore().iter_unfinished()]
    assert old_writing.blob.storage_key not in unfinished
    assert read(old_complete) == b"kept"
    new_writing.finish()
    assert read(new_writing.blob) == b"recent"


def test_concurrent_cleanups_remove_each_abandoned_blob_once(local_storage_settings):
    import threading

    from django.db import connection

    writers = [content_writer() for _ in range(12)]
    for writer in writers:
        writer.write(os.urandom(SEGMENT + 1))
    Blob.objects.update(created_at=timezone.now() - timedelta(days=2))
    counts = []

    def cleanup() -> None:
        try:
            counts.append(cleanup_abandoned_blobs(older_than=timezone.now()))
        finally:
            connection.close()

    threads = [threading.Thread(target=cleanup) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(counts) == 12
    assert not Blob.objects.exists()
    assert list(get_blobstore().iter_unfinished()) == []


def test_orphan_cleanup_removes_only_old_objects_without_a_row(storage_backend):
    owned = store(b"owned")
    store_ = get_blobstore()
    orphan_key, unfinished_key = "0" * 32, "1" * 32
    writer = store_.writer(orphan_key)
    writer.write(b"no row")
    writer.finish()
    store_.writer(unfinished_key).write(os.urandom(PART_SIZE + 1))  # left behind by a crash
    in_progress = content_writer()
    in_progress.write(os.urandom(PART_SIZE + 1))

    assert cleanup_orphaned_objects(older_than=timezone.now() - timedelta(hours=1)) == 0
    assert cleanup_orphaned_objects(older_than=timezone.now() + timedelta(seconds=5)) == 2

    assert [k for k, _ in store_.iter_objects()] == [owned.storage_key]
    assert [k for k, _ in store_.iter_unfinished()] == [in_progress.blob.storage_key]
    in_progress.finish()
    assert read(owned) == b"owned"


def test_blobs_being_written_are_found_through_the_partial_index():
    from django.db import connection, transaction

    query = Blob.objects.filter(state=Blob.State.WRITING, pk__gt=0).order_by("pk")[:500]
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL enable_seqscan = off")  # a tiny table would be scanned
        plan = query.explain()
    assert "storage_blob_writing" in plan, plan


def test_abandoned_blobs_are_claimed_a_batch_per_transaction(local_storage_settings):
    """Reclaiming abandoned blobs costs the same queries for 3 and for 30 of them (a batch is
    locked, read and deleted in one transaction, not row by row), and every one goes."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    counts = {}
    for size in (3, 30):
        writers = [content_writer() for _ in range(size)]
        for writer in writers:
            writer.write(b"partial")
        Blob.objects.update(created_at=timezone.now() - timedelta(days=2))
        with CaptureQueriesContext(connection) as captured:
            assert cleanup_abandoned_blobs(older_than=timezone.now()) == size
        counts[size] = len(captured.captured_queries)
        assert not Blob.objects.exists()
        assert list(get_blobstore().iter_unfinished()) == []
    assert counts[3] == counts[30], counts
