"""Complete blobs that nothing references (a process killed between storing content and
creating its row) are reclaimed by `cleanuporphans`, rows and objects, on both backends; a blob
that a file, a thumbnail or an upload uses is never touched. The crashes themselves, with real
processes, are in tests/workers/test_crash_leftovers.py."""

import hashlib
import secrets
import threading
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from files import services
from files.models import File, Thumbnail, TusUpload
from files.selectors import folder_get_root
from storage import cleanup
from storage.models import Blob
from storage.reader import iter_content
from storage.writer import content_writer
from tests.fixtures.files import make_file, stored_keys

pytestmark = pytest.mark.django_db

on_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="row locks need PostgreSQL (CI runs it)"
)


def _stored_blob(data: bytes = b"left behind by a crash") -> Blob:
    """A complete blob whose File or Thumbnail row never came (the process died first)."""
    writer = content_writer()
    writer.write(data)
    return writer.finish()


def _content(blob: Blob, name: str, data: bytes) -> services.NewFileContent:
    return services.NewFileContent(
        name=name,
        blob=blob,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        content_type="text/plain",
    )


def test_cleanuporphans_reclaims_complete_blobs_nothing_references(
    storage_backend, alice, settings, capsys
):
    settings.LOCKER_ORPHAN_GRACE_HOURS = 0
    live = make_file(alice, "kept.txt", b"a file someone uses\n")
    thumb_blob = _stored_blob(b"a thumbnail")
    Thumbnail.objects.create(file=live, size=256, blob=thumb_blob, content_type="image/webp")
    tus_blob = _stored_blob(b"a tus upload between its last byte and its file")
    TusUpload.objects.create(
        upload_id=secrets.token_hex(16),
        owner=alice,
        folder=folder_get_root(alice),
        filename="big.bin",
        length=47,
        offset=47,
        blob=tus_blob,
        expires_at=timezone.now() + timedelta(hours=1),
    )
    writing = content_writer()  # an upload still being written
    writing.write(b"in flight")
    leftovers = [_stored_blob() for _ in range(3)]
    try:
        call_command("cleanuporphans")
        assert "Unreferenced blobs removed: 3;" in capsys.readouterr().out

        assert not Blob.objects.filter(pk__in=[blob.pk for blob in leftovers]).exists()
        keys = stored_keys()
        assert not {blob.storage_key for blob in leftovers} & keys
        for blob in (live.blob, thumb_blob, tus_blob):
            assert Blob.objects.filter(pk=blob.pk).exists()
            assert blob.storage_key in keys
        assert Blob.objects.filter(pk=writing.blob.pk, state=Blob.State.WRITING).exists()
        live.refresh_from_db()
        assert b"".join(iter_content(live.blob)) == b"a file someone uses\n"
    finally:
        writing.abort()


def test_unreferenced_blob_within_the_grace_period_is_kept(alice, settings):
    settings.LOCKER_ORPHAN_GRACE_HOURS = 1
    blob = _stored_blob()  # e.g. the first part of a multi-file upload still arriving
    assert cleanup.unreferenced_blobs_cleanup() == 0
    assert Blob.objects.filter(pk=blob.pk).exists()
    later = timezone.now() + timedelta(hours=1, minutes=1)
    assert cleanup.unreferenced_blobs_cleanup(now=later) == 1
    assert blob.storage_key not in stored_keys()


def test_grace_period_counts_from_the_last_byte_not_the_first(alice, settings):
    """A big part of a slow upload was started long ago but finished just now: kept."""
    settings.LOCKER_ORPHAN_GRACE_HOURS = 1
    blob = _stored_blob()
    Blob.objects.filter(pk=blob.pk).update(created_at=timezone.now() - timedelta(hours=5))
    assert cleanup.unreferenced_blobs_cleanup() == 0
    assert Blob.objects.filter(pk=blob.pk).exists()


def test_upload_whose_content_was_reclaimed_is_refused_and_leaves_no_file(alice, settings):
    settings.LOCKER_ORPHAN_GRACE_HOURS = 0
    blob = _stored_blob(b"too slow")
    assert cleanup.unreferenced_blobs_cleanup() == 1
    with pytest.raises(services.ContentGone):
        services.files_create(
            user=alice, folder=None, contents=[_content(blob, "late.txt", b"too slow")]
        )
    assert not File.objects.filter(owner=alice).exists()


def test_cleanup_queries_do_not_grow_with_the_number_of_blobs(alice, settings):
    settings.LOCKER_ORPHAN_GRACE_HOURS = 0
    counts = []
    for how_many in (2, 12):
        for _ in range(how_many):
            _stored_blob()
        with CaptureQueriesContext(connection) as queries:
            assert cleanup.unreferenced_blobs_cleanup() == how_many
        counts.append(len(queries))
    assert counts[0] == counts[1], counts


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_blob_being_attached_while_cleanup_runs_is_kept(alice, settings):
    """files_create locks the blobs it attaches; the cleanup skips locked rows."""
    settings.LOCKER_ORPHAN_GRACE_HOURS = 0
    data = b"attached just now"
    blob = _stored_blob(data)
    locked, release, errors = threading.Event(), threading.Event(), []

    def attach() -> None:
        from django.db import connections, transaction

        try:
            with transaction.atomic():
                from storage.blobs import blobs_take_for_use

                blobs_take_for_use([blob.pk])
                locked.set()
                release.wait(30)
                services.files_create(
                    user=alice, folder=None, contents=[_content(blob, "late.txt", data)]
                )
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            locked.set()
            connections.close_all()

    thread = threading.Thread(target=attach)
    thread.start()
    assert locked.wait(30)
    try:
        assert cleanup.unreferenced_blobs_cleanup() == 0
    finally:
        release.set()
        thread.join(30)
    assert not errors, errors
    file = File.objects.get(owner=alice, name="late.txt")
    assert b"".join(iter_content(file.blob)) == data
    assert cleanup.unreferenced_blobs_cleanup() == 0


LATER = timedelta(seconds=1)


def test_a_scan_out_of_time_resumes_where_it_stopped(alice, settings, monkeypatch):
    """One window a run (a tiny budget): the next run goes on from there, and the walk covers
    the whole table over the runs, then starts over."""
    settings.LOCKER_ORPHAN_GRACE_HOURS = 0
    settings.LOCKER_JOB_TIME_BUDGET = 0
    monkeypatch.setattr(cleanup, "UNREFERENCED_SCAN_WINDOW", 2)
    live = make_file(alice, "kept.txt")
    orphans = [_stored_blob() for _ in range(6)]
    runs = [cleanup.unreferenced_blobs_cleanup(now=timezone.now() + LATER) for _ in range(4)]
    assert sum(runs) == 6 and max(runs) <= 2
    assert not Blob.objects.filter(pk__in=[blob.pk for blob in orphans]).exists()
    assert Blob.objects.filter(pk=live.blob_id).exists()
    late = _stored_blob()
    # The walk reaches the end, starts over, and finds it within a few runs.
    found = [cleanup.unreferenced_blobs_cleanup(now=timezone.now() + LATER) for _ in range(8)]
    assert sum(found) == 1
    assert not Blob.objects.filter(pk=late.pk).exists()
