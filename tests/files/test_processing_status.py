"""Processing still owed on a file: its owner sees since when (API), staff find the files that
wait long (admin), and the requeue job finds them through an index of unfinished files only,
a batch at a time, whatever step is owed."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework import serializers

from files import processing
from files.models import File
from files.tasks import requeue_pending
from tests.fixtures.files import make_file
from tests.workers import media

pytestmark = pytest.mark.django_db


@pytest.fixture
def scanner(settings):
    settings.LOCKER_SCANNER = "command"
    settings.LOCKER_SCAN_COMMAND = "cat >/dev/null"
    settings.LOCKER_REQUEUE_PENDING_AFTER = 1800
    return settings


def _waited(file: File, hours: float) -> File:
    """As if uploaded `hours` ago and never taken up since (a lost task)."""
    long_ago = timezone.now() - timedelta(hours=hours)
    File.objects.filter(pk=file.pk).update(created_at=long_ago, processing_due_at=long_ago)
    file.refresh_from_db()
    return file


def test_owner_sees_since_when_a_file_waits_for_processing(alice, alice_api, scanner):
    file = _waited(make_file(alice, "waiting.txt"), hours=3)
    item = alice_api.get(f"/api/v1/files/{file.public_id}/").json()
    assert item["state"] == "pending"
    assert item["processing"] is True
    assert item["processing_since"] == serializers.DateTimeField().to_representation(
        file.created_at
    )

    assert processing.file_process(file_id=file.pk) == "ready"
    item = alice_api.get(f"/api/v1/files/{file.public_id}/").json()
    assert (item["processing"], item["processing_since"]) == (False, None)
    assert File.objects.get(pk=file.pk).processing_due_at is None


def test_staff_find_the_files_waiting_long_for_processing_in_the_admin(
    client, staff, alice, scanner
):
    _waited(make_file(alice, "stuck-for-hours.txt"), hours=3)
    make_file(alice, "just-uploaded.txt")
    done = make_file(alice, "long-done.txt")
    processing.file_process(file_id=done.pk)
    client.force_login(staff)

    page = client.get("/admin/files/file/?processing=long").content.decode()
    assert "stuck-for-hours.txt" in page
    assert "just-uploaded.txt" not in page and "long-done.txt" not in page

    page = client.get("/admin/files/file/?processing=waiting").content.decode()
    assert "stuck-for-hours.txt" in page and "just-uploaded.txt" in page
    assert "long-done.txt" not in page


def test_requeue_covers_every_unfinished_step_and_nothing_else(
    alice, settings, django_capture_on_commit_callbacks
):
    settings.LOCKER_SCANNER = "none"
    settings.LOCKER_REQUEUE_PENDING_AFTER = 1800
    thumbnail_owed = _waited(make_file(alice, "photo.png", media.png()), hours=2)
    assert (thumbnail_owed.state, thumbnail_owed.thumbnail_state) == ("ready", "")
    settings.LOCKER_SCANNER = "command"
    scan_owed = _waited(make_file(alice, "scan-me.txt"), hours=2)
    _waited(make_file(alice, "in-progress.txt"), hours=0.1)  # its task may still be running
    done = _waited(make_file(alice, "done.txt"), hours=2)
    File.objects.filter(pk=done.pk).update(processing_due_at=None, state="ready")

    with django_capture_on_commit_callbacks() as callbacks:
        assert requeue_pending(batch_size=1) == 2
    assert len(callbacks) == 2
    # Each is due again from now: the next run leaves them to the tasks just queued.
    for file in (thumbnail_owed, scan_owed):
        file.refresh_from_db()
        assert file.processing_due_at > timezone.now() - timedelta(minutes=1)
    with django_capture_on_commit_callbacks() as callbacks:
        assert requeue_pending() == 0
    assert callbacks == []


def test_requeue_queries_do_not_grow_with_the_number_of_files(
    alice, scanner, django_capture_on_commit_callbacks
):
    counts = []
    for how_many in (2, 20):
        for index in range(how_many):
            _waited(make_file(alice, f"lost-{how_many}-{index}.txt"), hours=2)
        with CaptureQueriesContext(connection) as queries, django_capture_on_commit_callbacks():
            assert requeue_pending() == how_many
        counts.append(len(queries))
    assert counts[0] == counts[1], counts


def test_requeue_finds_overdue_files_through_the_partial_index(alice, scanner):
    _waited(make_file(alice, "lost.txt"), hours=2)
    query = processing.files_processing_overdue(older_than=timezone.now())
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")  # a tiny table would be scanned
    plan = query.explain()
    assert "files_file_processing_due" in plan, plan


def test_requeue_out_of_time_stops_after_one_batch_and_the_next_run_goes_on(
    alice, scanner, settings, django_capture_on_commit_callbacks
):
    settings.LOCKER_JOB_BATCH_SIZE = 2
    settings.LOCKER_JOB_TIME_BUDGET = 0
    for index in range(5):
        _waited(make_file(alice, f"lost-{index}.txt"), hours=2)
    runs = []
    with django_capture_on_commit_callbacks():
        while queued := requeue_pending():
            runs.append(queued)
    assert runs == [2, 2, 1]
