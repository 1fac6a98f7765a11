"""The pace of the periodic jobs, for the apps: batches of LOCKER_JOB_BATCH_SIZE rows, each in
its own transaction, within LOCKER_JOB_TIME_BUDGET a run, and where a walk stopped. One
implementation, in storage/jobs.py: the storage engine's own cleanups use it too, and the engine
imports nothing of locker/."""

from storage.jobs import (
    JobMarker,
    JobRun,
    delete_oldest_in_batches,
    repeat_batches,
    rows_in_batches,
)

__all__ = ["JobMarker", "JobRun", "delete_oldest_in_batches", "repeat_batches", "rows_in_batches"]
