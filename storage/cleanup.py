"""What crashes leave behind, reclaimed: blobs nobody finished writing, complete blobs nobody
uses, and stored objects no row owns.

A process can die at any instant: between creating a blob's row and storing its bytes, between
storing them and creating the row that uses them (a file, a thumbnail), between deleting a row
and its bytes. Each cleanup here is safe to run twice at once and next to live uploads; the
periodic tasks that run them are files.tasks.cleanup_partial_uploads (abandoned blobs, with the
upload leases that hold them) and storage.tasks.cleanup_orphaned_objects (`cleanuporphans`).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from itertools import islice

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, ProtectedError, Q, QuerySet
from django.utils import timezone

from storage.backends import get_blobstore
from storage.jobs import JobMarker, JobRun, rows_in_batches
from storage.models import Blob

logger = logging.getLogger(__name__)


def cleanup_abandoned_blobs(
    *,
    older_than: datetime,
    now: datetime | None = None,
    live_holders: QuerySet | None = None,
) -> int:
    """Delete blobs still WRITING whose writer is gone; returns how many.

    A blob whose writer named a holder (content_writer(holder=…): an upload's reservation) is
    abandoned once that holder is no longer live: `live_holders` is a queryset of the holder
    rows that are live now (a live request renews its lease); a holder whose row is gone counts
    as no holder. Without `live_holders`, a blob that names a holder is kept. A blob some row
    points at (a tus upload) is that row's business. Any other is abandoned when created before
    `older_than`, and never younger than LOCKER_UPLOAD_LEASE (a thumbnail being written holds
    no lease). Each row is claimed by a conditional delete (`WHERE state = writing`) before its
    bytes are removed, so two cleanups running at once, or a writer finishing meanwhile, never
    collide. Bytes whose removal fails are left to the orphan cleanup that lists the storage.
    Candidates come through the partial index of blobs being written (storage_blob_writing),
    LOCKER_JOB_BATCH_SIZE at a time, until LOCKER_JOB_TIME_BUDGET has passed.
    """
    now = now or timezone.now()
    unleased_before = min(older_than, now - timedelta(seconds=settings.LOCKER_UPLOAD_LEASE))
    abandoned = Q(holder__isnull=True, created_at__lt=unleased_before)
    if live_holders is not None:
        held = Exists(live_holders.model._base_manager.filter(pk=OuterRef("holder")))
        live = Exists(live_holders.filter(pk=OuterRef("holder")))
        abandoned = Q(~held, created_at__lt=unleased_before) | Q(held, ~live)
    store = get_blobstore()
    removed = 0
    unused = [~exists for _label, exists in Blob.references()]
    candidates = Blob.objects.filter(abandoned, *unused, state=Blob.State.WRITING)
    run = JobRun()
    rows = rows_in_batches(candidates.values_list("pk", "storage_key"), run)
    while batch := list(islice(rows, run.batch_size)):
        for key in _claim_abandoned(batch, unused):
            removed += 1
            try:
                store.delete(key)
                store.discard_unfinished(key)
            except Exception:  # noqa: BLE001 - left for the orphan cleanup
                logger.warning("Could not remove the stored bytes of abandoned blob %s", key)
    return removed


def _claim_abandoned(batch: list[tuple[int, str]], unused: list) -> list[str]:
    """Delete the rows of `batch` ((pk, key) pairs) that are still being written and still
    unused, in one transaction: the rows are locked first (on PostgreSQL, FOR UPDATE SKIP
    LOCKED: a row another cleanup holds is its business; SQLite's transactions take the write
    lock at once), so what is read is what is deleted, and no reference can be added between.
    Returns the keys of the rows deleted, whose bytes the caller removes. Should Django still
    refuse (a protected reference), the batch is claimed row by row."""
    try:
        with transaction.atomic():
            claimed = list(
                Blob.objects.select_for_update(skip_locked=True)
                .filter(*unused, pk__in=[pk for pk, _key in batch], state=Blob.State.WRITING)
                .values_list("pk", "storage_key")
            )
            if claimed:
                Blob.objects.filter(pk__in=[pk for pk, _key in claimed]).delete()
        return [key for _pk, key in claimed]
    except ProtectedError:
        keys = []
        for pk, key in batch:
            try:
                deleted, _ = Blob.objects.filter(pk=pk, state=Blob.State.WRITING).delete()
            except ProtectedError:
                logger.warning("Abandoned blob %s was taken into use meanwhile; kept", key)
                continue
            if deleted:
                keys.append(key)
        return keys


# Primary keys covered by one query of the unreferenced-blob scan.
UNREFERENCED_SCAN_WINDOW = 20_000


def _unreferenced(older_than: datetime):
    """Complete blobs finished before `older_than` that no row of any model points at (a file,
    a thumbnail, a tus upload: every relation to Blob, see Blob.references)."""
    unused = [~exists for _label, exists in Blob.references()]
    return Blob.objects.filter(
        Q(completed_at__lt=older_than) | Q(completed_at__isnull=True, created_at__lt=older_than),
        *unused,
        state=Blob.State.COMPLETE,
    )


# Where the last run of the unreferenced-blob scan stopped for lack of time.
_SCAN_CURSOR = JobMarker("storage:unreferenced-blobs:cursor")


def cleanup_unreferenced_blobs(*, older_than: datetime, batch_size: int | None = None) -> int:
    """Delete complete blobs that nothing references, finished before `older_than`; returns how
    many (rows and stored objects).

    What a crash between storing content and attaching it leaves behind: the parts of a
    multi-file upload whose process died before the File rows were created, a thumbnail whose
    worker was killed before its row was. The table is walked by primary key in windows of
    UNREFERENCED_SCAN_WINDOW, each one short query (anti-joins on the unique blob_id indexes),
    so time per query and memory stay bounded at any table size. Each batch is claimed under
    row locks (see storage.blobs.blobs_take_for_use) and its rows deleted and committed before
    its objects are removed, in one request per thousand on S3; objects whose removal fails are
    left to the listing pass below. Once LOCKER_JOB_TIME_BUDGET has passed the walk stops and
    the next run resumes where it stopped (a cursor in the cache), so a table of any size is
    covered in full over a few runs.
    """
    store = get_blobstore()
    run = JobRun()
    batch_size = batch_size or run.batch_size
    candidates = _unreferenced(older_than)
    bounds = Blob.objects.order_by("pk").values_list("pk", flat=True)
    first, top = bounds.first(), bounds.last()
    if first is None:
        return 0
    removed = 0
    cursor = _SCAN_CURSOR.get()
    if not isinstance(cursor, int) or not first - 1 <= cursor < top:
        cursor = first - 1
    while cursor < top:
        if not run.another_batch():
            _SCAN_CURSOR.set(cursor)
            return removed
        end = cursor + UNREFERENCED_SCAN_WINDOW
        pks = list(
            candidates.filter(pk__gt=cursor, pk__lte=end)
            .order_by("pk")
            .values_list("pk", flat=True)[:batch_size]
        )
        cursor = pks[-1] if len(pks) == batch_size else end
        if pks:
            removed += _reclaim_unreferenced(candidates, pks, store)
    _SCAN_CURSOR.clear()
    return removed


def _reclaim_unreferenced(candidates, pks: list[int], store) -> int:
    try:
        with transaction.atomic():
            # Checked again under the lock: a row attached meanwhile keeps its blob.
            claimed = list(
                candidates.select_for_update(skip_locked=True)
                .filter(pk__in=pks)
                .values_list("pk", "storage_key")
            )
            if claimed:
                Blob.objects.filter(pk__in=[pk for pk, _key in claimed]).delete()
    except (ProtectedError, IntegrityError):
        logger.warning("Unreferenced blobs were taken meanwhile; kept", exc_info=True)
        return 0
    keys_ = [key for _pk, key in claimed]
    try:
        store.delete_many(keys_)
    except Exception:  # noqa: BLE001 - their rows are gone: the listing pass removes them later
        logger.warning("Could not remove the objects of %d unreferenced blobs", len(keys_))
    if keys_:
        logger.info("Reclaimed %d unreferenced blobs", len(keys_))
    return len(claimed)


# Where the last run of each listing stopped for lack of time: the last key it handled.
_OBJECTS_AFTER = JobMarker("storage:orphaned-objects:after")
_UNFINISHED_AFTER = JobMarker("storage:orphaned-uploads:after")


def cleanup_orphaned_objects(*, older_than: datetime, run: JobRun | None = None) -> int:
    """Delete stored objects and unfinished uploads that no Blob row owns; returns how many.

    A blob owns its object; only a blob still being written owns unfinished uploads and stage
    objects under its key: those a request stored and then failed to record (the database
    lost, a kill between storing and recording) are stray once the blob is complete, as the
    upload that finished it recorded others. Only those last modified before `older_than` are
    considered: a row is always created before its bytes, but the row of an upload in progress
    may sit in a transaction not committed yet.

    Each listing (finished objects, then unfinished uploads, the latter with at least one batch
    of its own) is read in key order, LOCKER_JOB_BATCH_SIZE keys a batch (one query for their
    rows), while LOCKER_JOB_TIME_BUDGET lasts. After each batch the last key listed is recorded
    (storage.jobs.JobMarker); the next run lists from there, and once a listing reaches its end
    the next one starts over. A run killed mid-batch does that batch again next time.
    """
    store = get_blobstore()
    run = run or JobRun()
    removed = 0
    for marker, listing, remove, unfinished in (
        (_OBJECTS_AFTER, store.iter_objects, store.delete, False),
        (_UNFINISHED_AFTER, store.iter_unfinished, store.discard_unfinished, True),
    ):
        after = marker.get()
        keys = iter(listing(after=after if isinstance(after, str) else ""))
        while run.another_batch():
            batch = list(islice(keys, run.batch_size))
            old = [key for key, modified in batch if modified < older_than]
            if old:
                removed += _remove_unowned(old, remove, unfinished=unfinished)
            if len(batch) < run.batch_size:
                marker.clear()
                break
            marker.set(batch[-1][0])
        run = JobRun(budget=run.remaining, batch_size=run.batch_size)
    return removed


def _owner_key(key: str) -> str:
    """A tus upload's S3 stage object is named `<blob key><32 random hex>`: it is its blob's."""
    return key[:32] if len(key) == 64 else key


def _remove_unowned(keys_: list[str], remove, *, unfinished: bool) -> int:
    states = dict(
        Blob.objects.filter(storage_key__in={_owner_key(key) for key in keys_}).values_list(
            "storage_key", "state"
        )
    )
    removed = 0
    for key in keys_:
        state = states.get(_owner_key(key))
        if state == Blob.State.WRITING or (
            state is not None and not unfinished and _owner_key(key) == key
        ):
            continue
        try:
            remove(key)
        except Exception:  # noqa: BLE001 - try again on the next run
            logger.warning("Could not remove orphaned object %s", key, exc_info=True)
        else:
            removed += 1
    return removed


def unreferenced_blobs_cleanup(*, now: datetime | None = None) -> int:
    """Delete complete blobs that no file, thumbnail or upload references, finished more than
    LOCKER_ORPHAN_GRACE_HOURS ago (what a process killed between storing content and creating
    its row leaves behind); returns how many."""
    cutoff = (now or timezone.now()) - timedelta(hours=settings.LOCKER_ORPHAN_GRACE_HOURS)
    return cleanup_unreferenced_blobs(older_than=cutoff)


def orphaned_objects_cleanup(*, now: datetime | None = None) -> int:
    """Delete stored objects that no row references, older than LOCKER_ORPHAN_GRACE_HOURS.

    The grace period protects uploads in progress: their row exists (maybe uncommitted) and
    their bytes are younger than any sensible grace period.
    """
    cutoff = (now or timezone.now()) - timedelta(hours=settings.LOCKER_ORPHAN_GRACE_HOURS)
    return cleanup_orphaned_objects(older_than=cutoff)
