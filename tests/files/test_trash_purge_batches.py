"""The trash purge at scale: batches of LOCKER_JOB_BATCH_SIZE files, each in its own
transaction, a fixed number of queries per batch whatever the backlog, a time budget per run
after which the next run goes on, two runs at once purging each file once, and usage that stays
the sum of the live files."""

import secrets
import threading
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.db.models import F, Sum
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import AuditEvent
from files import services
from files.models import File, Folder, Thumbnail
from files.selectors import folder_get_root
from files.tasks import purge_trash
from storage.models import Blob
from storage.writer import content_writer
from tests.fixtures.files import make_file, make_folder, stored_keys

BATCH = 4
LONG_AGO = timedelta(days=400)


@pytest.fixture
def small_batches(settings):
    settings.LOCKER_JOB_BATCH_SIZE = BATCH
    settings.LOCKER_TRASH_DAYS = 30


def _trashed_backlog(user, count: int, *, folder: Folder | None = None, size: int = 7) -> None:
    """`count` files of `size` bytes that have been in the trash for over a year, made in bulk
    (rows only: their objects were never stored, which a purge treats as already gone). In
    `folder` they came with it to the trash; else each is a trash item of its own."""
    folder = folder or folder_get_root(user)
    blobs = Blob.objects.bulk_create(
        Blob(
            storage_key=secrets.token_hex(16),
            master_key_id="test",
            wrapped_key=b"k",
            segment_size=65536,
            size=size,
            state=Blob.State.COMPLETE,
        )
        for _ in range(count)
    )
    deleted_at = timezone.now() - LONG_AGO
    own_item = folder.deleted_at is None
    File.objects.bulk_create(
        File(
            owner=user,
            folder=folder,
            name=f"old-{blob.pk}.bin",
            name_key=f"old-{blob.pk}.bin",
            blob=blob,
            size=size,
            content_type="application/octet-stream",
            sha256="0" * 64,
            state=File.State.READY,
            deleted_at=deleted_at,
            trash_root_id=None if own_item else (folder.trash_root_id or folder.pk),
            trashed_as_root=own_item,
        )
        for blob in blobs
    )
    type(user).objects.filter(pk=user.pk).update(used_bytes=F("used_bytes") + count * size)
    user.refresh_from_db()


def _live_sum(user) -> int:
    return File.objects.filter(owner=user).aggregate(total=Sum("size"))["total"] or 0


def _purge_one_batch(settings) -> tuple[int, int]:
    """One run limited to one batch: (files purged, queries it made)."""
    settings.LOCKER_JOB_TIME_BUDGET = 0
    with CaptureQueriesContext(connection) as queries:
        purged = services.trash_purge_expired()
    return purged, len(queries)


def test_queries_per_batch_do_not_grow_with_the_backlog(alice, bob, settings, small_batches):
    _trashed_backlog(alice, 10)
    small_purged, small_queries = _purge_one_batch(settings)
    _trashed_backlog(bob, 1200)
    large_purged, large_queries = _purge_one_batch(settings)
    assert small_purged == large_purged == BATCH
    assert small_queries == large_queries


def test_a_backlog_of_many_batches_is_purged_completely_across_runs(
    alice, bob, settings, small_batches
):
    keep = make_file(alice, "keep.txt", b"kept")
    _trashed_backlog(alice, 3 * BATCH + 1)
    _trashed_backlog(bob, 2 * BATCH)
    settings.LOCKER_JOB_TIME_BUDGET = 0  # one batch a run
    runs = []
    while purged := purge_trash():
        runs.append(purged)
    assert runs == [BATCH] * 5 + [1]
    assert list(File.objects.all()) == [keep]
    assert list(Blob.objects.all()) == [keep.blob]
    alice.refresh_from_db()
    bob.refresh_from_db()
    assert (alice.used_bytes, bob.used_bytes) == (_live_sum(alice), 0) == (4, 0)
    purged_events = AuditEvent.objects.filter(action="file.purged")
    assert purged_events.filter(subject=alice).count() == 3 * BATCH + 1
    assert purged_events.filter(subject=bob).count() == 2 * BATCH


def test_a_run_with_time_left_purges_the_whole_backlog(alice, settings, small_batches):
    _trashed_backlog(alice, 5 * BATCH)
    settings.LOCKER_JOB_TIME_BUDGET = 3600
    assert purge_trash() == 5 * BATCH
    assert not File.objects.exists()


def test_a_run_out_of_time_stops_after_one_batch_and_the_next_goes_on(
    alice, settings, small_batches
):
    _trashed_backlog(alice, 3 * BATCH)
    settings.LOCKER_JOB_TIME_BUDGET = 0
    assert purge_trash() == BATCH
    assert File.objects.count() == 2 * BATCH
    settings.LOCKER_JOB_TIME_BUDGET = 3600
    assert purge_trash() == 2 * BATCH
    assert not File.objects.exists()
    alice.refresh_from_db()
    assert alice.used_bytes == 0


def test_a_big_trashed_folder_is_purged_a_batch_at_a_time(
    alice, settings, small_batches, storage_backend, django_capture_on_commit_callbacks
):
    top = make_folder(alice, "top")
    sub = make_folder(alice, "sub", top)
    real = make_file(alice, "real.bin", b"r" * 9, folder=sub)
    thumb_writer = content_writer()
    thumb_writer.write(b"a thumbnail")
    thumb = Thumbnail.objects.create(
        file=real, size=256, blob=thumb_writer.finish(), content_type="image/webp"
    )
    services.folder_trash(folder=top)
    Folder.objects.filter(pk=top.pk).update(deleted_at=timezone.now() - LONG_AGO)
    top.refresh_from_db()
    sub.refresh_from_db()
    _trashed_backlog(alice, 2 * BATCH, folder=sub)
    assert len(stored_keys()) == 2
    settings.LOCKER_JOB_TIME_BUDGET = 0
    runs = []
    with django_capture_on_commit_callbacks(execute=True):
        while purged := purge_trash():
            runs.append(purged)
            # The files go a batch at a time; the empty folders in a batch of their own.
            assert Folder.objects.filter(pk__in=[top.pk, sub.pk]).count() == 2
    assert runs == [BATCH, BATCH, 1]
    assert not Folder.objects.filter(pk__in=[top.pk, sub.pk]).exists()
    assert not File.objects.exists()
    assert not Blob.objects.filter(pk=thumb.blob_id).exists()
    assert stored_keys() == set()
    alice.refresh_from_db()
    assert alice.used_bytes == 0
    assert AuditEvent.objects.filter(action="file.purged", target_label="top").count() == 1


def test_a_batch_that_fails_half_way_leaves_everything_as_it_was(
    alice, settings, small_batches, monkeypatch
):
    _trashed_backlog(alice, 2 * BATCH)
    used = alice.used_bytes

    def audit_lost(*args, **kwargs):
        raise ConnectionError("the database went away in the middle of the batch")

    monkeypatch.setattr(services, "audit_many", audit_lost)
    with pytest.raises(ConnectionError):
        services.trash_purge_expired()
    assert File.objects.count() == Blob.objects.count() == 2 * BATCH
    alice.refresh_from_db()
    assert alice.used_bytes == used


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="runs at once need row locks (SKIP LOCKED): PostgreSQL, which CI runs",
)
@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_purge_each_file_exactly_once(alice, bob, settings, small_batches):
    _trashed_backlog(alice, 10 * BATCH)
    _trashed_backlog(bob, 10 * BATCH, size=3)
    make_file(bob, "alive.txt", b"alive")
    settings.LOCKER_JOB_TIME_BUDGET = 3600
    start = threading.Barrier(2)
    purged: list[int] = []

    def run():
        try:
            start.wait()
            purged.append(services.trash_purge_expired())
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(purged) == 20 * BATCH
    assert list(File.objects.values_list("name", flat=True)) == ["alive.txt"]
    assert AuditEvent.objects.filter(action="file.purged").count() == 20 * BATCH
    alice.refresh_from_db()
    bob.refresh_from_db()
    assert (alice.used_bytes, bob.used_bytes) == (0, 5)


def _plan(query) -> str:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")  # a tiny table would be scanned
    return query.explain()


def test_expired_trash_is_found_through_the_partial_indexes(alice):
    cutoff = timezone.now()
    assert "files_file_trash_expiry" in _plan(services._expired_trash(File, cutoff)[:BATCH])
    assert "files_folder_trash_expiry" in _plan(services._expired_trash(Folder, cutoff)[:1])
