"""Celery tasks of the files app: thin, idempotent, ids as arguments; the work is in services."""

from datetime import timedelta

from celery import Task, shared_task
from django.conf import settings
from django.utils import timezone

from files import services
from files.scanning import ScannerUnavailable


class ProcessingTask(Task):
    """Retries a scanner outage with exponential backoff and full jitter (settings at run time)."""

    autoretry_for = (ScannerUnavailable,)
    retry_jitter = True
    max_retries = 12
    retry_backoff_max = 3600

    @property
    def retry_backoff(self) -> int:
        return max(1, settings.LOCKER_SCAN_RETRY_BACKOFF)


@shared_task(name="files.tasks.process_file", base=ProcessingTask)
def process_file(file_id: int, rescan: bool = False) -> str | None:
    """Scan a new file and make its thumbnails; a file deleted meanwhile is skipped quietly."""
    from files.processing import file_process

    return file_process(file_id=file_id, rescan=rescan)


def queue_processing(file_ids: list[int], *, rescan: bool = False) -> None:
    """Queue processing; call inside the transaction that creates the rows (runs on commit)."""
    from django.db import transaction

    for file_id in file_ids:
        transaction.on_commit(lambda file_id=file_id: _send(file_id, rescan), robust=True)


def _send(file_id: int, rescan: bool) -> None:
    process_file.apply_async((file_id,), {"rescan": rescan} if rescan else None)


@shared_task(name="files.tasks.purge_trash")
def purge_trash() -> int:
    """Delete for good what has been in the trash longer than LOCKER_TRASH_DAYS."""
    return services.trash_purge_expired()


@shared_task(name="files.tasks.cleanup_partial_uploads")
def cleanup_partial_uploads(hours: float | None = None) -> dict:
    """Reclaim what crashed or abandoned uploads left: half-written blobs and reservations.

    Whatever a live request holds is spared (a lease it renews while bytes arrive). Beyond
    what has expired or lapsed, unfinished uploads idle for `hours` (LOCKER_PARTIAL_UPLOAD_HOURS
    by default; 0 = every one not being written now) are reclaimed.
    """
    from files.content import cleanup_abandoned_blobs
    from files.tus import cleanup_expired

    if hours is None:
        hours = settings.LOCKER_PARTIAL_UPLOAD_HOURS
    now = timezone.now()
    idle_before = now - timedelta(hours=hours)
    # tus uploads first: their blobs, storage and reservations (files/tus.py).
    tus_uploads = cleanup_expired(now=now, idle_before=idle_before)
    # Then blobs, while the reservations that say whose they are still exist.
    blobs = tus_uploads + cleanup_abandoned_blobs(older_than=idle_before, now=now)
    reservations = services.upload_reservations_delete_expired(now=now)
    return {"blobs": blobs, "reservations": reservations}


@shared_task(name="files.tasks.cleanup_orphaned_objects")
def cleanup_orphaned_objects() -> int:
    """Delete stored objects no row owns, older than LOCKER_ORPHAN_GRACE_HOURS."""
    return services.orphaned_objects_cleanup()


@shared_task(name="files.tasks.requeue_pending")
def requeue_pending() -> int:
    """Queue again files pending longer than LOCKER_REQUEUE_PENDING_AFTER (lost tasks)."""
    from django.db import transaction

    from files.processing import files_stuck_pending

    cutoff = timezone.now() - timedelta(seconds=settings.LOCKER_REQUEUE_PENDING_AFTER)
    ids = files_stuck_pending(older_than=cutoff)
    with transaction.atomic():
        queue_processing(ids)
    return len(ids)
