"""Processing of a stored file: virus scan, then thumbnails (called by files.tasks.process_file).

Every state change is a conditional update (`UPDATE … WHERE state IN (…)`), so a task that runs
twice, or a rescan racing a first scan, never moves a file backwards or marks it twice.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.audit import audit
from files.events import file_event_data
from files.models import File, Thumbnail
from files.scanning import ScannerUnavailable, get_scanner
from files.thumbnail_sandbox import (
    CONTENT_TYPE,
    ThumbnailFailed,
    file_chunks_for_thumbnail,
    render_thumbnails,
    thumbnail_kind,
)
from locker import metrics
from storage.blobs import blobs_take_for_use, delete_blob
from storage.exceptions import CorruptContent
from storage.models import Blob
from storage.reader import iter_content
from storage.writer import content_writer
from webhooks import services as webhooks

logger = logging.getLogger(__name__)

S = File.State


def file_process(*, file_id: int, rescan: bool = False) -> str | None:
    """Scan (when due) and make thumbnails; returns the resulting state, None if the file is gone.

    Raises ScannerUnavailable after recording `error`, so the task retries with backoff.
    """
    file = File.objects.select_related("blob", "owner", "folder").filter(pk=file_id).first()
    if file is None:
        return None
    if file.state in (S.PENDING, S.ERROR) or (rescan and file.state == S.READY):
        _scan(file, rescan=rescan)
        file.refresh_from_db(fields=["state", "state_reason"])
    if file.state == S.READY and not file.thumbnail_state and settings.LOCKER_THUMBNAILS:
        file_make_thumbnails(file=file)
    # Nothing is owed any more: requeue_pending leaves the file alone from now on.
    File.objects.filter(pk=file.pk).update(processing_due_at=None)
    return file.state


def _scan(file: File, *, rescan: bool) -> None:
    scannable = [S.PENDING, S.ERROR] + ([S.READY] if rescan else [])
    scanner = get_scanner()
    # /metrics counts verdicts of a real scanner: "no scanner" passing a file is not one.
    verdict_result = metrics.scanned if scanner.name != "none" else (lambda _result: None)
    try:
        try:
            verdict = scanner.scan(iter_content(file.blob))
        except SoftTimeLimitExceeded:
            raise ScannerUnavailable("The scan ran into the task's time limit.") from None
    except CorruptContent as exc:
        verdict_result("error")
        # Damaged bytes never get better: an error for the owner and staff, not a retry.
        logger.error("File %s cannot be scanned: %s", file.pk, exc)
        File.objects.filter(pk=file.pk, state__in=[S.PENDING, S.ERROR]).update(
            state=S.ERROR, state_reason=_("The stored content is damaged and cannot be scanned.")
        )
        return
    except ScannerUnavailable as exc:
        verdict_result("error")
        logger.warning("Scanning file %s failed: %s", file.pk, exc)
        File.objects.filter(pk=file.pk, state__in=[S.PENDING, S.ERROR]).update(
            state=S.ERROR,
            state_reason=_("The virus scan could not run; it is retried automatically."),
        )
        raise
    verdict_result("infected" if verdict.infected else "clean")
    if not verdict.infected:
        with transaction.atomic():
            became_ready = File.objects.filter(pk=file.pk, state__in=[S.PENDING, S.ERROR]).update(
                state=S.READY, state_reason=""
            )
            if rescan:  # a ready file stays ready (not a new event)
                File.objects.filter(pk=file.pk, state=S.READY).update(state_reason="")
            if became_ready:
                file.state = S.READY
                webhooks.emit("file.ready", owner=file.owner, data=file_event_data(file))
        return
    reason = _("A virus was found: %(name)s") % {"name": verdict.name}
    with transaction.atomic():
        moved = File.objects.filter(pk=file.pk, state__in=scannable).update(
            state=S.INFECTED, state_reason=reason[:255]
        )
        if moved:
            file.state = S.INFECTED
            webhooks.emit(
                "file.infected",
                owner=file.owner,
                data={**file_event_data(file), "virus": verdict.name},
            )
    if moved:
        logger.warning("File %s is infected: %s", file.pk, verdict.name)
        audit("file.infected", target=file, virus=verdict.name)
        thumbnails_delete(file=file)
        _notify_staff(file, verdict.name)
        if settings.LOCKER_DELETE_INFECTED:
            from files.services import file_trash

            file.refresh_from_db()
            if file.deleted_at is None:
                file_trash(file=file)


def _notify_staff(file: File, name: str) -> None:
    """One e-mail per language the staff read (each in theirs, else LOCKER_LANGUAGE)."""
    from locker.i18n import supported

    by_language: dict[str, list[str]] = {}
    for email, language in (
        get_user_model()
        .objects.filter(is_staff=True, is_active=True)
        .exclude(email="")
        .order_by("pk")
        .values_list("email", "language")
    ):
        by_language.setdefault(supported(language) or settings.LANGUAGE_CODE, []).append(email)
    for language, recipients in by_language.items():
        with translation.override(language):
            _notify_staff_in_language(file, name, recipients)


def _notify_staff_in_language(file: File, name: str, recipients: list[str]) -> None:
    owner = file.owner
    subject = _("Locker: a virus was found in an upload")
    body = _(
        "The scanner found %(virus)s in a file of %(user)s (file id %(id)s, %(size)s bytes).\n"
        "Nobody can download it. %(action)s"
    ) % {
        "virus": name,
        "user": owner.get_username(),
        "id": file.public_id,
        "size": file.size,
        "action": _("It was moved to the owner's trash.")
        if settings.LOCKER_DELETE_INFECTED
        else _("The owner sees why and can delete it."),
    }
    try:
        send_mail(subject, body, None, recipients)
    except Exception:  # noqa: BLE001 - the state is recorded; a mail outage must not undo it
        logger.exception("Could not e-mail staff about infected file %s", file.pk)


def file_make_thumbnails(*, file: File) -> str:
    """Render and store thumbnails; records thumbnail_state (ready/none/error) and returns it."""
    kind = thumbnail_kind(file.content_type)
    if kind is None:
        _thumbnail_state(file, "none", "")
        return "none"
    try:
        try:
            rendered = render_thumbnails(file_chunks_for_thumbnail(file), kind=kind)
        except CorruptContent:
            raise ThumbnailFailed("The stored content could not be read.") from None
    except ThumbnailFailed as exc:
        logger.info("No thumbnail for file %s: %s", file.pk, exc)
        _thumbnail_state(file, "error", str(exc))
        return "error"
    if not rendered:
        _thumbnail_state(file, "none", "")
        return "none"
    for item in rendered:
        _store_thumbnail(file, item.size, item.data)
    _thumbnail_state(file, "ready", "")
    return "ready"


def _thumbnail_state(file: File, state: str, reason: str) -> None:
    File.objects.filter(pk=file.pk).update(thumbnail_state=state, thumbnail_reason=reason[:255])
    file.thumbnail_state = state
    file.thumbnail_reason = reason


def _store_thumbnail(file: File, size: int, data: bytes) -> None:
    writer = content_writer()
    try:
        writer.write(data)
        blob = writer.finish()
        with transaction.atomic():
            if not File.objects.filter(pk=file.pk).exists():
                raise File.DoesNotExist
            blobs_take_for_use([blob.pk])
            _, created = Thumbnail.objects.get_or_create(
                file=file, size=size, defaults={"blob": blob, "content_type": CONTENT_TYPE}
            )
        if not created:  # a duplicate run got there first
            writer.abort()
    except BaseException:
        writer.abort()
        raise


def thumbnails_delete(*, file: File) -> None:
    blobs = list(Blob.objects.filter(thumbnail__file=file))
    Thumbnail.objects.filter(file=file).delete()
    _thumbnail_state(file, "", "")
    for blob in blobs:
        try:
            delete_blob(blob)
        except Exception:  # noqa: BLE001 - the orphan cleanup reclaims it
            logger.warning("Could not delete thumbnail blob %s", blob.pk, exc_info=True)


def files_processing_overdue(*, older_than: datetime):
    """Ids of files whose processing was due before `older_than`, oldest first: a range scan
    of the partial index files_file_processing_due, which holds the unfinished files only."""
    return (
        File.objects.filter(processing_due_at__lt=older_than)
        .order_by("processing_due_at")
        .values_list("pk", flat=True)
    )


def files_requeue_due(*, older_than: datetime, limit: int = 500) -> list[int]:
    """Queue again up to `limit` files whose processing was due before `older_than` (their
    task was lost), oldest first, moving their due time on to now, in one transaction;
    returns their ids. Rows another run holds are skipped."""
    from files.processing_queue import queue_processing

    now = timezone.now()
    with transaction.atomic():
        ids = list(
            files_processing_overdue(older_than=older_than).select_for_update(skip_locked=True)[
                :limit
            ]
        )
        if ids:
            File.objects.filter(pk__in=ids).update(processing_due_at=now)
            queue_processing(ids)
    return ids


def processing_postpone(*, file_id: int, seconds: float) -> None:
    """A retry of this file's processing is scheduled in `seconds`: that is when it is due."""
    due = timezone.now() + timedelta(seconds=seconds)
    File.objects.filter(pk=file_id, processing_due_at__isnull=False).update(processing_due_at=due)


def processing_give_up(*, file_id: int) -> None:
    """The retries ran out on a scanner error: the file stays `error` until `rescan`."""
    File.objects.filter(pk=file_id, state=S.ERROR).update(processing_due_at=None)


def files_rescan(*, since: datetime | None = None, everything: bool = False) -> list[int]:
    """Put files back to be scanned; returns their ids for the caller to queue.

    Without options: files in error or still pending (e.g. after a scanner outage). `everything`
    also rescans ready files (e.g. after new signatures); `since` limits to newer uploads.
    """
    states = [S.PENDING, S.ERROR] + ([S.READY] if everything or since else [])
    qs = File.objects.filter(state__in=states)
    if since is not None:
        qs = qs.filter(created_at__gte=since)
    # Owed again (a lost task is requeued); a rescan of a ready file is not tracked.
    qs.filter(state__in=[S.PENDING, S.ERROR]).update(processing_due_at=timezone.now())
    return list(qs.order_by("pk").values_list("pk", flat=True))
