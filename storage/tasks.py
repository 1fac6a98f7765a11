"""Celery tasks of the storage engine: thin, idempotent; the work is in storage/cleanup.py."""

from celery import shared_task

from storage import cleanup


# The name it had in the files app: the beat schedule, cron twins and queued messages use it.
@shared_task(name="files.tasks.cleanup_orphaned_objects")
def cleanup_orphaned_objects() -> dict:
    """Delete complete blobs nothing references, then stored objects no row owns, older than
    LOCKER_ORPHAN_GRACE_HOURS."""
    blobs = cleanup.unreferenced_blobs_cleanup()
    return {"blobs": blobs, "objects": cleanup.orphaned_objects_cleanup()}
