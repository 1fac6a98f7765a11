"""Periodic housekeeping (scheduled in CELERY_BEAT_SCHEDULE). Thin: the work is in services."""

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from files import services


@shared_task(name="files.tasks.purge_trash")
def purge_trash() -> int:
    """Delete for good what has been in the trash longer than LOCKER_TRASH_DAYS."""
    return services.trash_purge_expired()


@shared_task(name="files.tasks.cleanup_partial_uploads")
def cleanup_partial_uploads() -> dict:
    """Reclaim what crashed or abandoned uploads left: half-written blobs and reservations."""
    from files.content import cleanup_abandoned_blobs
    from files.tus import cleanup_expired

    now = timezone.now()
    # Expired tus uploads first: their blobs, storage and reservations (files/tus.py).
    tus_uploads = cleanup_expired(now=now)
    blobs = tus_uploads + cleanup_abandoned_blobs(
        older_than=now - timedelta(hours=settings.LOCKER_PARTIAL_UPLOAD_HOURS)
    )
    reservations = services.upload_reservations_delete_expired(now=now)
    return {"blobs": blobs, "reservations": reservations}
