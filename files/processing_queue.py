"""Sending files to the processing workers (scan, thumbnails), and the state a new file starts
in. Apart from files.processing (what the workers do, which uses the services) so that the
services can queue work without importing what imports them: the task is named, not imported
(locker.celery.task_queue)."""

from django.conf import settings
from django.db import transaction

from files.models import File
from locker.celery import task_queue

S = File.State


def initial_state() -> str:
    """New files wait for the scanner; without one there is nothing to wait for."""
    return S.READY if settings.LOCKER_SCANNER == "none" else S.PENDING


def queue_processing(file_ids: list[int], *, rescan: bool = False) -> None:
    """Queue processing; call inside the transaction that creates the rows (runs on commit)."""
    for file_id in file_ids:
        transaction.on_commit(lambda file_id=file_id: _send(file_id, rescan), robust=True)


def _send(file_id: int, rescan: bool) -> None:
    task_queue("files.tasks.process_file", (file_id,), {"rescan": rescan} if rescan else None)
