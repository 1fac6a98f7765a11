"""The pace of the periodic jobs (trash purge, share cleanup, orphan cleanup, audit pruning,
requeue): work in batches of LOCKER_JOB_BATCH_SIZE rows, each in its own transaction, and stop
taking new batches once LOCKER_JOB_TIME_BUDGET has passed, leaving the rest to the next run.

A run always does at least one batch, so every run makes progress whatever the budget; a batch
is small enough to finish well within the Celery soft time limit, so a run is never cut off
in the middle of one (and if it were, its transaction rolls back: the batch did not happen).
"""

import time

from django.conf import settings


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
