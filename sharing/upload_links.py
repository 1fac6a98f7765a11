"""Services of upload links (file requests): create, edit, revoke, receive files, notify.

Refusals are `UploadRefused` (files.link_uploads, so the files app's tus completion knows it
without importing this app); `upload_link_receive` is registered there in SharingConfig.ready().

An upload link lets anyone with it put files into one folder of its owner, and see nothing of
that folder: responses name only what the uploader sent, never what is stored (a renamed
"name (1).ext" would reveal that "name.ext" exists).
"""

import logging
import secrets

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Count, F, Min, Q
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy

from accounts.audit import A
from files.link_uploads import UploadRefused
from files.models import Folder, UploadReservation
from locker.celery import task_queue
from locker.errors import ErrorCode
from locker.i18n import for_recipient
from locker.throttle import Throttle
from sharing.events import upload_link_event_data
from sharing.models import UploadLink, UploadLinkUpload
from sharing.services import UNSET, access_log_ip, link_create, link_revoke, link_update
from webhooks import services as webhooks

logger = logging.getLogger(__name__)

NOTIFY_BATCH_DELAY = 300  # seconds: uploads arriving meanwhile share one e-mail


def _clean(*, max_files=None, max_file_size=None, message=None, label=None) -> None:
    if max_files is not None and max_files < 1:
        raise ValidationError({"max_files": _("Accept at least one file, or no limit.")})
    if max_file_size is not None and max_file_size < 1:
        raise ValidationError({"max_file_size": _("The size limit must be at least one byte.")})
    if message is not None and len(message) > 2000:
        raise ValidationError({"message": _("Keep the message under 2000 characters.")})
    if label is not None and len(label) > 200:
        raise ValidationError({"label": _("Keep the label under 200 characters.")})


def upload_link_create(
    *,
    owner,
    folder: Folder,
    expires_at=UNSET,
    max_files: int | None = None,
    max_file_size: int | None = None,
    password: str = "",
    message: str = "",
    label: str = "",
    notify: bool = True,
) -> tuple[UploadLink, str]:
    from sharing.selectors import folder_is_alive

    if folder.owner_id != owner.pk or not folder_is_alive(folder):
        raise ValidationError({"folder": _("There is no such folder.")})
    _clean(max_files=max_files, max_file_size=max_file_size, message=message, label=label)
    return link_create(
        model=UploadLink,
        action=A.UPLOAD_LINK_CREATED,
        expires_at=expires_at,
        password=password,
        label=label,
        owner=owner,
        folder=folder,
        max_files=max_files,
        max_file_size=max_file_size,
        message=message or "",
        notify=notify,
    )


def upload_link_update(
    *,
    link: UploadLink,
    expires_at=UNSET,
    max_files=UNSET,
    max_file_size=UNSET,
    password: str | None = None,
    message: str | None = None,
    label: str | None = None,
    notify: bool | None = None,
) -> UploadLink:
    """Edit an upload link's options, as `sharing.services.share_update` does a share's
    (`max_files=None` and `max_file_size=None` mean no limit)."""
    return link_update(
        link=link,
        action=A.UPLOAD_LINK_CHANGED,
        limits={"expires_at": expires_at, "max_files": max_files, "max_file_size": max_file_size},
        options={"password": password, "message": message, "label": label, "notify": notify},
        clean=lambda data: _clean(
            max_files=data.get("max_files"),
            max_file_size=data.get("max_file_size"),
            message=data.get("message"),
            label=data.get("label"),
        ),
    )


def upload_link_revoke(*, link: UploadLink) -> bool:
    """Revoke the link and end its uploads in progress: their reservations stop counting at
    once and their bytes are deleted."""
    revoked = link_revoke(link=link, action=A.UPLOAD_LINK_REVOKED)
    upload_link_uploads_end(link=link)
    return revoked


def upload_link_uploads_end(*, link: UploadLink) -> int:
    """End every upload in progress through `link`; returns how many. A tus upload's bytes go
    at once (even during a PATCH); a form upload still sending stops at its next renewal."""
    from files.models import TusUpload
    from files.services import tus_upload_terminate

    ended = 0
    unfinished = TusUpload.objects.filter(link=link, completed_at__isnull=True)
    for upload_pk in unfinished.values_list("pk", flat=True):
        ended += int(tus_upload_terminate(pk=upload_pk, probe=False))
    _total, deleted = UploadReservation.objects.filter(link=link).delete()
    return ended + deleted.get(UploadReservation._meta.label, 0)


def upload_link_max_file_size(link: UploadLink) -> int:
    """The per-file cap for this link (0 = unlimited): the link's and the server's, smaller."""
    caps = [c for c in (link.max_file_size, settings.LOCKER_MAX_UPLOAD_SIZE) if c]
    return min(caps) if caps else 0


# Probes of the owner's quota, per link: refusals for want of room, and uploads that fit but
# ended with nothing kept. A refusal tells the link's holder that the owner has less room than
# the size they declared (the answer is the same sentence whatever the size); without a limit,
# a holder of a link without max_file_size could find how much room is left by bisecting
# between 201 and 507 with declared sizes alone (finding F1 in docs/security.md). An upload
# that fits tells that there is at least that much room, and was free when its holder cancelled
# it at once (finding M1): so an upload through the link whose reservation ends with nothing
# kept (cancelled by its holder, expired before a byte arrived, a request that failed) counts
# too (upload_link_probe_count, called by the files app). Once the limit is reached, every
# upload through the link is refused with 429 until the window ends, the ones that would fit
# too, so the boundary cannot be probed on.
NO_ROOM_REFUSALS = Throttle("upload-link-no-room", limit=10, window=3600)


def upload_link_probe_count(*, link_id: int) -> None:
    """One more probe of the owner's quota through the link (registered with the files app in
    SharingConfig.ready(): files.link_uploads.link_upload_probed)."""
    NO_ROOM_REFUSALS.hit(str(link_id))


def _upload_link_expired_uploads_end(*, link: UploadLink) -> None:
    """End the link's tus uploads that expired unfinished, so that one that never received a
    byte counts as a probe now, not only when the cleanup gets to it (its reservation stopped
    counting when it expired). At most LOCKER_UPLOAD_LINK_MAX_OPEN rows."""
    from files.tus import uploads_end_expired

    uploads_end_expired(link_id=link.pk)


def upload_link_reserve(
    *, link: UploadLink, size: int, name: str = "", resumable: bool = False
) -> UploadReservation:
    """Reserve the owner's quota for one upload through `link`, within the link's own room.

    Uploads in progress count as files: with `max_files`, no more may be open than files are
    left, and together they reserve at most files left × the largest file allowed; at most
    LOCKER_UPLOAD_LINK_MAX_OPEN are open on one link at once. The reservation holds the usual
    lease: a form upload renews it while its bytes arrive, a tus creation (`resumable`) makes it
    live as long as the upload (LOCKER_UPLOAD_LINK_IDLE without bytes) only once the upload is
    recorded, so a creation that dies in between holds nothing for long. Raises UploadRefused
    (410 no more files, 413 too large for the link, 429 room taken by uploads in progress, or
    the link probed too often: NO_ROOM_REFUSALS) or files.services.QuotaExceeded.
    """
    from files.services import QuotaExceeded

    _upload_link_expired_uploads_end(link=link)
    wait = NO_ROOM_REFUSALS.retry_after(str(link.pk))
    if wait is not None:
        raise UploadRefused(
            _(
                "Uploads through this link were refused for want of room too often; try again "
                "later."
            ),
            status=429,
            retry_after=wait,
        )
    try:
        return _upload_link_reserve(link=link, size=size, name=name, resumable=resumable)
    except QuotaExceeded:
        NO_ROOM_REFUSALS.hit(str(link.pk))
        raise


def _upload_link_reserve(
    *, link: UploadLink, size: int, name: str, resumable: bool
) -> UploadReservation:
    from files.intake import MULTIPART_ALLOWANCE
    from files.services import reserved_bytes, upload_reservation_create

    now = timezone.now()
    with transaction.atomic():
        # Serialises the reservations of one link, so racing creations cannot overrun its room.
        locked = UploadLink.objects.select_for_update().get(pk=link.pk)
        if locked.revoked_at is not None:
            raise UploadRefused(
                _("This upload link was revoked."), status=410, code=ErrorCode.REVOKED
            )
        open_uploads = UploadReservation.objects.live(now).filter(link=locked)
        stats = open_uploads.aggregate(count=Count("pk"), first=Min("expires_at"))
        count, total = stats["count"], reserved_bytes(open_uploads)
        busy = UploadRefused(
            _(
                "Uploads in progress on this link already take all the room it allows; try "
                "again when they have finished."
            ),
            status=429,
            retry_after=max(1, int((stats["first"] - now).total_seconds())) if count else 1,
        )
        if count >= settings.LOCKER_UPLOAD_LINK_MAX_OPEN:
            raise busy
        if locked.max_files:
            left = locked.max_files - locked.files_count
            if left <= 0:
                raise UploadRefused(
                    _("This upload link does not accept more files."),
                    status=410,
                    code=ErrorCode.UPLOAD_LIMIT_REACHED,
                )
            max_size = upload_link_max_file_size(locked)
            room = left * max_size + (0 if resumable else MULTIPART_ALLOWANCE) if max_size else 0
            if room and size > room:
                raise UploadRefused(_("This upload is larger than this link accepts."), status=413)
            if count >= left or (room and total + size > room):
                raise busy
        return upload_reservation_create(user=locked.owner, size=size, link=locked, name=name)


def upload_link_claim_files(*, link: UploadLink, count: int) -> bool:
    """Take `count` of the link's remaining files, atomically (racing uploads cannot overrun)."""
    limit = Q(max_files__isnull=True) | Q(files_count__lte=F("max_files") - count)
    updated = (
        UploadLink.objects.filter(pk=link.pk, revoked_at__isnull=True)
        .filter(limit)
        .update(files_count=F("files_count") + count)
    )
    return updated == 1


BATCH_SALT = "sharing.upload-batch"
BAD_BATCH = _lazy(
    "This upload cannot be placed in a folder: reload the page and send the folder again."
)


def upload_batch_token(*, link: UploadLink) -> str:
    """A signed token naming the folder that one visit's folder uploads go into.

    The server picks the name ("Upload 2026-11-30 21.40.12 3f9a": date, time and a random
    part), so an uploader can never name an existing folder of the owner and write into it; a
    visitor sending a folder tree gets it below this folder, created with the first file."""
    when = timezone.localtime().strftime("%Y-%m-%d %H.%M.%S")
    name = _("Upload %(when)s %(tag)s") % {"when": when, "tag": secrets.token_hex(2)}
    return signing.dumps({"l": str(link.public_id), "n": name}, salt=BATCH_SALT, compress=True)


def upload_batch_path(*, link: UploadLink, batch: object, path: object) -> list[str]:
    """The folder names, from the link's folder, of a file sent with a relative `path` in the
    batch `batch`: the batch folder then the path's folders. Refused (UploadRefused 400, a
    sentence) for a forged batch, a path that is not relative ("..", "/…", empty parts) or one
    that would nest folders past LOCKER_MAX_FOLDER_DEPTH. One query (the link folder's depth)."""
    from files.names import InvalidName
    from files.selectors import folder_depth
    from files.services import _too_deep, folder_path_split

    try:
        data = signing.loads(str(batch or ""), salt=BATCH_SALT)
    except signing.BadSignature:
        data = None
    if not isinstance(data, dict) or data.get("l") != str(link.public_id):
        raise UploadRefused(str(BAD_BATCH), status=400)
    try:
        names = folder_path_split(path)
    except InvalidName as exc:
        raise UploadRefused(" ".join(exc.messages), status=400) from None
    depth = folder_depth(folder_id=link.folder_id) + 1 + len(names)
    if depth > settings.LOCKER_MAX_FOLDER_DEPTH:
        raise UploadRefused(str(_too_deep(depth)), status=400)
    return [data["n"], *names]


def upload_link_receive(
    *,
    link: UploadLink,
    contents: list,
    reservation,
    ip: str | None,
    folder_names: list[str] | None = None,
):
    """Create the owner's files from stored contents; names never overwrite (renamed).

    With `folder_names` (from upload_batch_path) the files go into that folder below the link's
    folder, created as needed once the link has counted the files: a refused upload makes no
    folder, and no request makes a folder without a file in it."""
    from files.services import ON_CONFLICT, files_create, folder_ensure_path

    with transaction.atomic():
        if not upload_link_claim_files(link=link, count=len(contents)):
            raise UploadRefused(
                _("This upload link does not accept that many more files."),
                status=410,
                code=ErrorCode.UPLOAD_LIMIT_REACHED,
            )
        folder = link.folder
        if folder_names:
            folder, _created = folder_ensure_path(
                user=link.owner, parent=folder, path="/".join(folder_names)
            )
        created = files_create(
            user=link.owner,
            folder=folder,
            contents=contents,
            on_conflict=ON_CONFLICT.RENAME,
            reservation=reservation,
            uploaded_by={
                "upload_link": {"id": str(link.public_id), "label": link.label},
                "ip": access_log_ip(ip),
            },
        )
        UploadLinkUpload.objects.bulk_create(
            [
                UploadLinkUpload(
                    link=link,
                    file=file,
                    name=content.name[:255],
                    size=file.size,
                    ip=access_log_ip(ip),
                )
                for file, content in zip(created, contents, strict=True)
            ]
        )
        if link.notify:
            transaction.on_commit(lambda: _queue_notification(link.pk))
        if link.max_files is not None:
            _emit_if_filled(link)
    return created


def _emit_if_filled(link: UploadLink) -> None:
    """`upload_link.filled` when this upload took the link's last file: the claims are
    conditional updates of the link's row, held locked until this transaction ends, so one
    upload alone sees the count reach the limit."""
    link.refresh_from_db(fields=["files_count"])
    if link.files_count >= link.max_files:
        webhooks.emit("upload_link.filled", owner=link.owner, data=upload_link_event_data(link))


def _queue_notification(link_id: int) -> None:
    try:
        task_queue(
            "sharing.tasks.notify_upload_link_owner", (link_id,), countdown=NOTIFY_BATCH_DELAY
        )
    except Exception:  # noqa: BLE001 - the files are stored; a lost e-mail must not fail that
        logger.warning("Could not queue the upload notification for %s", link_id, exc_info=True)


def upload_link_notify_owner(*, link_id: int) -> int:
    """One e-mail listing every upload not yet reported; returns how many it reported.

    Uploads are claimed with a conditional update, so concurrent runs never report one twice.
    """
    link = UploadLink.objects.select_related("owner").filter(pk=link_id).first()
    if link is None or not link.owner.email:
        return 0
    now = timezone.now()
    pending = list(
        UploadLinkUpload.objects.filter(link=link, notified_at__isnull=True).values_list(
            "pk", flat=True
        )
    )
    claimed = UploadLinkUpload.objects.filter(pk__in=pending, notified_at__isnull=True).update(
        notified_at=now
    )
    if not claimed:
        return 0
    uploads = list(UploadLinkUpload.objects.filter(link=link, notified_at=now).order_by("at"))
    context = {"link": link, "owner": link.owner, "uploads": uploads}
    with for_recipient(user=link.owner):
        subject = render_to_string("sharing/email/uploaded_subject.txt", context).strip()
        body = render_to_string("sharing/email/uploaded.txt", context)
    send_mail(
        subject=subject,
        message=body,
        from_email=None,
        recipient_list=[link.owner.email],
        fail_silently=False,
    )
    return len(uploads)
