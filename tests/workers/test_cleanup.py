"""Periodic cleanup: orphaned stored objects, and a cron twin for every beat task."""

import threading
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.management import call_command, get_commands
from django.utils import timezone

from storage.backends import get_blobstore
from storage.cleanup import orphaned_objects_cleanup
from storage.writer import content_writer, new_storage_key
from tests.fixtures.files import make_file, stored_keys

LATER = timedelta(hours=settings.LOCKER_ORPHAN_GRACE_HOURS + 1)


def _orphan() -> str:
    """Bytes in storage that no Blob row references (e.g. a crash between the two deletes)."""
    key = new_storage_key()
    writer = get_blobstore().writer(key)
    writer.write(b"left behind")
    writer.finish()
    return key


@pytest.mark.django_db
def test_orphan_older_than_the_grace_period_is_deleted():
    key = _orphan()
    # Other tests of the session may have left orphans in the same storage: at least ours goes.
    assert orphaned_objects_cleanup(now=timezone.now() + LATER) >= 1
    assert key not in stored_keys()


@pytest.mark.django_db
def test_young_orphan_is_kept_within_the_grace_period():
    key = _orphan()
    orphaned_objects_cleanup()
    assert key in stored_keys()


@pytest.mark.django_db
def test_referenced_objects_and_uploads_in_progress_are_never_deleted(alice):
    file = make_file(alice, "kept.txt")
    writer = content_writer()  # an upload still being written: its row exists, WRITING
    writer.write(b"x" * 1000)
    try:
        orphaned_objects_cleanup(now=timezone.now() + LATER)
        keys = stored_keys()
        assert file.blob.storage_key in keys
        writer.write(b"more")
        blob = writer.finish()
        assert blob.storage_key in stored_keys()
    finally:
        writer.abort()


@pytest.mark.django_db(transaction=True)
def test_two_cleanups_at_once_delete_each_orphan_once_without_errors():
    keys = {_orphan() for _ in range(20)}
    results: list[int] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(orphaned_objects_cleanup(now=timezone.now() + LATER))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert not keys & stored_keys()
    assert sum(results) >= len(keys)
    assert orphaned_objects_cleanup(now=timezone.now() + LATER) == 0  # and a third run: nothing


def test_every_beat_task_has_a_management_command_twin():
    twins = {
        "files.tasks.purge_trash": "purgetrash",
        "files.tasks.cleanup_partial_uploads": "cleanuppartialuploads",
        "files.tasks.cleanup_orphaned_objects": "cleanuporphans",
        "sharing.tasks.cleanup_shares": "cleanupshares",
        "accounts.tasks.prune_audit": "pruneaudit",
        "files.tasks.requeue_pending": "requeuepending",
        "accounts.tasks.ldap_members_recheck": "ldaprecheck",
        "webhooks.tasks.requeue_due": "requeuewebhooks",
        "locker.tasks.prune_idempotency_keys": "pruneidempotencykeys",
    }
    commands = get_commands()
    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        assert entry["task"] in twins, f"{entry['task']} has no cron twin listed"
        assert twins[entry["task"]] in commands


@pytest.mark.django_db
@pytest.mark.parametrize(
    "command",
    [
        "purgetrash",
        "cleanuppartialuploads",
        "cleanuporphans",
        "cleanupshares",
        "requeuepending",
        "requeuewebhooks",
        "pruneidempotencykeys",
    ],
)
def test_cron_twins_run_twice_in_a_row(command, capsys):
    call_command(command)
    call_command(command)
    assert capsys.readouterr().out.count("\n") >= 2


def test_beat_schedule_is_overridable_from_the_environment(tmp_path):
    import os
    import subprocess
    import sys

    env = dict(os.environ, LOCKER_CLEANUP_ORPHANS_EVERY="17m", LOCKER_DATA_DIR=str(tmp_path))
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='locker.settings'; "
            "django.setup(); from django.conf import settings; "
            "print(settings.CELERY_BEAT_SCHEDULE['cleanup-orphaned-objects']['schedule'])",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "1020"


@pytest.mark.django_db
def test_files_pending_too_long_are_queued_again(
    alice, settings, django_capture_on_commit_callbacks
):
    from files.models import File
    from files.tasks import requeue_pending

    settings.LOCKER_SCANNER = "command"
    settings.LOCKER_SCAN_COMMAND = "true"
    old = make_file(alice, "old.txt")
    make_file(alice, "new.txt")
    long_ago = timezone.now() - timedelta(hours=2)
    File.objects.filter(pk=old.pk).update(created_at=long_ago, processing_due_at=long_ago)
    with django_capture_on_commit_callbacks() as callbacks:
        assert requeue_pending() == 1
    assert len(callbacks) == 1


def test_a_job_time_budget_past_the_soft_time_limit_is_refused(tmp_path):
    import os
    import subprocess
    import sys

    env = dict(
        os.environ,
        LOCKER_JOB_TIME_BUDGET="20m",
        LOCKER_TASK_SOFT_TIME_LIMIT="10m",
        LOCKER_DATA_DIR=str(tmp_path),
    )
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='locker.settings'; "
            "django.setup()",
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    assert out.returncode != 0
    assert "LOCKER_JOB_TIME_BUDGET must be shorter than LOCKER_TASK_SOFT_TIME_LIMIT" in out.stderr
