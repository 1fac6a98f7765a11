"""The pace of the periodic jobs (trash purge, share cleanup, orphan cleanup, audit pruning,
requeue): work in batches of LOCKER_JOB_BATCH_SIZE rows, each in its own transaction, and stop
taking new batches once LOCKER_JOB_TIME_BUDGET has passed, leaving the rest to the next run.

A run always does at least one batch, so every run makes progress whatever the budget; a batch
is small enough to finish well within the Celery soft time limit, so a run is never cut off
in the middle of one (and if it were, its transaction rolls back: the batch did not happen).

It lives in the storage engine, whose own cleanups are paced by it, because the engine imports
nothing of the other apps, `locker/` included (tests/storage/test_boundary.py); the apps take
it from locker/jobs.py, which re-exports it.
"""

import logging
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import QuerySet

logger = logging.getLogger(__name__)
T = TypeVar("T")


class JobRun:
    """One run of a periodic job: its batch size and its deadline."""

    def __init__(self, *, budget: float | None = None, batch_size: int | None = None):
        budget = settings.LOCKER_JOB_TIME_BUDGET if budget is None else budget
        self.batch_size = batch_size or settings.LOCKER_JOB_BATCH_SIZE
        self._deadline = time.monotonic() + budget
        self.batches = 0
        # Set once the run has declined a batch for lack of time: work may be left.
        self.out_of_time = False

    def another_batch(self) -> bool:
        """Whether to take one more batch: the first always, later ones while time is left."""
        self.batches += 1
        if self.batches == 1 or time.monotonic() < self._deadline:
            return True
        self.out_of_time = True
        return False

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


def repeat_batches(run: JobRun, batch: Callable[[int], tuple[T, bool]]) -> list[T]:
    """Call `batch(run.batch_size)` (one batch, in its own transaction; it returns what it did
    and whether to go on) while the run's budget lasts and the batch says to go on; returns what
    each batch did, in order."""
    done = []
    while run.another_batch():
        result, more = batch(run.batch_size)
        done.append(result)
        if not more:
            break
    return done


def rows_in_batches(rows: QuerySet, run: JobRun) -> Iterator[tuple]:
    """The (pk, …) tuples of `rows` (a values_list starting with the primary key) by primary
    key, a batch of run.batch_size per query (no long-lived cursor), until there are no more or
    the run's budget has passed."""
    last_pk = None
    while run.another_batch():
        page = rows if last_pk is None else rows.filter(pk__gt=last_pk)
        batch = list(page.order_by("pk")[: run.batch_size])
        yield from batch
        if len(batch) < run.batch_size:
            return
        last_pk = batch[-1][0]


class JobMarker:
    """Where a job's walk stopped (a primary key, the last key listed), kept in the cache so the
    next run, in any process and after a kill, resumes there. Written only once what comes
    before it is done, so a run killed in between does its last batch again (every job's step
    is idempotent). Without the cache the walk starts from the beginning: slower, never wrong."""

    def __init__(self, key: str):
        self.key = key

    def get(self):
        try:
            return cache.get(self.key)
        except Exception:  # noqa: BLE001 - the walk then starts from the beginning
            logger.warning("Could not read where the last run of %s stopped", self.key)
            return None

    def set(self, value) -> None:
        try:
            if value is None:
                cache.delete(self.key)
            else:
                cache.set(self.key, value, timeout=None)
        except Exception:  # noqa: BLE001 - the next run then starts from the beginning
            logger.warning("Could not record where this run of %s stopped", self.key)

    def clear(self) -> None:
        self.set(None)
