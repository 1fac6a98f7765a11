"""The pace of the periodic jobs (trash purge, share cleanup, orphan cleanup, audit pruning,
requeue): work in batches of LOCKER_JOB_BATCH_SIZE rows, each in its own transaction, and stop
taking new batches once LOCKER_JOB_TIME_BUDGET has passed, leaving the rest to the next run.

A run always does at least one batch, so every run makes progress whatever the budget; a batch
is small enough to finish well within the Celery soft time limit, so a run is never cut off
in the middle of one (and if it were, its transaction rolls back: the batch did not happen).
"""

import time
from collections.abc import Callable

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet


class JobRun:
    """One run of a periodic job: its batch size and its deadline."""

    def __init__(self, *, budget: float | None = None, batch_size: int | None = None):
        budget = settings.LOCKER_JOB_TIME_BUDGET if budget is None else budget
        self.batch_size = batch_size or settings.LOCKER_JOB_BATCH_SIZE
        self._deadline = time.monotonic() + budget
        self.batches = 0

    def another_batch(self) -> bool:
        """Whether to take one more batch: the first always, later ones while time is left."""
        self.batches += 1
        return self.batches == 1 or time.monotonic() < self._deadline

    @property
    def remaining(self) -> float:
        """Seconds left of the budget (0 once it has passed)."""
        return max(0.0, self._deadline - time.monotonic())


def delete_oldest_in_batches(
    old: QuerySet, run: JobRun, *, delete: Callable[[QuerySet], tuple[int, dict]] | None = None
) -> int:
    """Delete the rows of `old` (ordered oldest first, through an index) a batch per DELETE, each
    in its own transaction, while the run's budget lasts; returns how many rows went. `delete`
    deletes one batch's queryset (default: its own delete()). Two runs at once may pick the same
    rows: each counts only what it deleted."""
    manager = old.model._default_manager
    deleted = 0
    while run.another_batch():
        with transaction.atomic():
            pks = list(old.values_list("pk", flat=True)[: run.batch_size])
            batch = manager.filter(pk__in=pks)
            count, _details = delete(batch) if delete else batch.delete()
        deleted += count
        if len(pks) < run.batch_size:
            break
    return deleted
