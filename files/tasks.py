"""Celery tasks of the files app: thin, idempotent, ids as arguments; the work is in services."""

import logging
from datetime import timedelta

from celery import Task, shared_task
from django.conf import settings
from django.utils import timezone

from files import services
from files.scanning import ScannerUnavailable
from locker.services import temp_files_delete_stale
from storage.backends.base import StorageUnavailable
from storage.backends.s3 import transient_storage_error
from storage.exceptions import ContentGone

logger = logging.getLogger(__name__)


def _transient_errors() -> tuple[type[BaseException], ...]:
    """What an outage raises: the task is retried, never left failed for good."""
    import botocore.exceptions
    import django.db
    import kombu.exceptions
    import urllib3.exceptions

    return (
        ScannerUnavailable,
        StorageUnavailable,  # also S3 5xx answers, see process_file
        ContentGone,
        django.db.OperationalError,  # the database is down or dropped the connection
        django.db.InterfaceError,
        botocore.exceptions.ConnectionError,  # S3 unreachable, connect timeout
        botocore.exceptions.HTTPClientError,  # connection closed, read timeout
        botocore.exceptions.IncompleteReadError,  # a response cut short
        urllib3.exceptions.HTTPError,  # a response body cut off mid-read
        kombu.exceptions.OperationalError,  # the broker
        OSError,  # local storage (EIO, ENOSPC), sockets
    )


class ProcessingTask(Task):
    """Retries outages (scanner, database, storage, broker) with exponential backoff and full
    jitter: LOCKER_SCAN_RETRY_BACKOFF doubling up to an hour, at most 12 times. The file keeps
    its processing_due_at, pushed to the next attempt, so requeue_pending takes it up again if
    the retries run out or the retry message is lost."""

    autoretry_for = _transient_errors()
    retry_jitter = True
    max_retries = 12
    retry_backoff_max = 3600

    @property
    def retry_backoff(self) -> int:
        return max(1, settings.LOCKER_SCAN_RETRY_BACKOFF)

    def retry(
        self,
        args=None,
        kwargs=None,
        exc=None,
        throw=True,
        eta=None,
        countdown=None,
        max_retries=None,
        **options,
    ):
        file_id = (args if args is not None else self.request.args or [None])[0]
        if file_id is not None and self.request.retries < self.max_retries:
            _postpone(file_id, countdown or 0, exc)
        return super().retry(args, kwargs, exc, throw, eta, countdown, max_retries, **options)

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        # A scanner that could not scan a file after every retry (down for hours, or a file
        # over its size limit) leaves it in `error` for `manage.py rescan`; anything else stays
        # due, for requeue_pending.
        if isinstance(exc, ScannerUnavailable) and args:
            from files.processing import processing_give_up

            try:
                processing_give_up(file_id=args[0])
            except Exception:  # noqa: BLE001 - it is then requeued later, which is harmless
                logger.warning("Could not record the end of file %s's retries", args[0])


def _postpone(file_id: int, countdown: float, exc) -> None:
    """Record when the retry is due, so requeue_pending does not queue a second copy meanwhile.
    Skipped when the database itself is what failed."""
    import django.db

    if isinstance(exc, (django.db.OperationalError, django.db.InterfaceError)):
        return
    from files.processing import processing_postpone

    try:
        processing_postpone(file_id=file_id, seconds=countdown)
    except Exception:  # noqa: BLE001 - best effort: a duplicate task is harmless
        logger.warning("Could not record the retry of file %s", file_id, exc_info=True)


@shared_task(name="files.tasks.process_file", base=ProcessingTask)
def process_file(file_id: int, rescan: bool = False) -> str | None:
    """Scan a new file and make its thumbnails; a file deleted meanwhile is skipped quietly."""
    from files.processing import file_process

    try:
        return file_process(file_id=file_id, rescan=rescan)
    except Exception as exc:
        if transient_storage_error(exc):
            raise StorageUnavailable(f"The content storage failed: {exc}") from exc
        raise


@shared_task(name="files.tasks.purge_trash")
def purge_trash() -> int:
    """Delete for good what has been in the trash longer than LOCKER_TRASH_DAYS."""
    return services.trash_purge_expired()


@shared_task(name="files.tasks.empty_trash", autoretry_for=_transient_errors(), retry_backoff=True)
def empty_trash(user_id: int) -> int:
    """Go on emptying a user's trash where the request stopped (files.services.trash_empty);
    queues itself again if its time budget is not enough. A user gone meanwhile: nothing."""
    from django.contrib.auth import get_user_model

    from locker.jobs import JobRun

    user = get_user_model().objects.filter(pk=user_id).first()
    if user is None:
        return 0
    return services.trash_empty(user=user, run=JobRun()).deleted_files


@shared_task(
    name="files.tasks.delete_trash_item", autoretry_for=_transient_errors(), retry_backoff=True
)
def delete_trash_item(kind: str, item_id: int) -> int:
    """Go on deleting one trash item for good where the request stopped
    (files.services.trash_item_delete). Restored or gone meanwhile: nothing."""
    from files.models import File, Folder
    from locker.jobs import JobRun

    model = Folder if kind == "folder" else File
    item = model.objects.filter(pk=item_id, trashed_as_root=True, deleted_at__isnull=False).first()
    if item is None:
        return 0
    return services.trash_item_delete(item=item, run=JobRun()).deleted_files


@shared_task(name="files.tasks.cleanup_partial_uploads")
def cleanup_partial_uploads(hours: float | None = None) -> dict:
    """Reclaim what crashed or abandoned uploads left: half-written blobs and reservations.

    Whatever a live request holds is spared (a lease it renews while bytes arrive). Beyond
    what has expired or lapsed, unfinished uploads idle for `hours` (LOCKER_PARTIAL_UPLOAD_HOURS
    by default; 0 = every one not being written now) are reclaimed.
    """
    from files.models import UploadReservation
    from files.tus import cleanup_expired
    from storage.cleanup import cleanup_abandoned_blobs

    if hours is None:
        hours = settings.LOCKER_PARTIAL_UPLOAD_HOURS
    now = timezone.now()
    idle_before = now - timedelta(hours=hours)
    # tus uploads first: their blobs, storage and reservations (files/tus.py).
    tus_uploads = cleanup_expired(now=now, idle_before=idle_before)
    # Then blobs, while the reservations that hold them (and say whether they are live) exist.
    blobs = tus_uploads + cleanup_abandoned_blobs(
        older_than=idle_before, now=now, live_holders=UploadReservation.objects.live(now)
    )
    reservations = services.upload_reservations_delete_expired(now=now)
    # Plaintext request bodies an older version (or a killed request) left in the temp dir.
    temp_files = temp_files_delete_stale(older_than=3600)
    return {"blobs": blobs, "reservations": reservations, "temp_files": temp_files}


@shared_task(name="files.tasks.requeue_pending")
def requeue_pending(batch_size: int | None = None) -> int:
    """Queue again every file whose processing is overdue by LOCKER_REQUEUE_PENDING_AFTER: its
    task was lost (broker down when queued, a worker killed on the filesystem broker, retries
    run out during a long outage). Works in batches (LOCKER_JOB_BATCH_SIZE) through an index of
    the unfinished files only, until none is left or LOCKER_JOB_TIME_BUDGET has passed; each
    batch is moved on to now, so the next run leaves it alone for as long again."""
    from files.processing import files_requeue_due
    from locker.jobs import JobRun, repeat_batches

    cutoff = timezone.now() - timedelta(seconds=settings.LOCKER_REQUEUE_PENDING_AFTER)

    def batch(size: int) -> tuple[int, bool]:
        ids = files_requeue_due(older_than=cutoff, limit=size)
        return len(ids), len(ids) >= size

    return sum(repeat_batches(JobRun(batch_size=batch_size), batch))
