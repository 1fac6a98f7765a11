"""What the sharing app does: create, edit and revoke links; count and log downloads."""

import ipaddress
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F, Q
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.audit import A, audit, truncate_ip
from files.events import file_event_data
from files.models import File, Folder
from locker.celery import task_queue
from locker.env import parse_duration
from locker.i18n import for_recipient
from locker.jobs import JobRun, delete_oldest_in_batches, repeat_batches
from locker.services import model_update
from sharing import tokens
from sharing.events import share_event_data
from sharing.models import Link, ShareAccess, ShareLink, ShareLinkItem
from webhooks import services as webhooks

logger = logging.getLogger(__name__)

UNSET = object()
NEVER = "never"


def share_url(token: str) -> str:
    return f"{settings.LOCKER_BASE_URL}/s/{token}"


def upload_link_url(token: str) -> str:
    return f"{settings.LOCKER_BASE_URL}/r/{token}"


def link_url_again(link: Link) -> str | None:
    """The link's URL shown again to its owner (callers have scoped `link` to its owner), from
    its sealed token; None for a link made before tokens were kept (shown once only)."""
    token = tokens.token_unseal(link)
    return f"{settings.LOCKER_BASE_URL}/{link.url_prefix}/{token}" if token else None


# --- Expiry ----------------------------------------------------------------------------------


def expiry_resolve(*, expires_at=UNSET, expires_in=UNSET, field: str = "expires_at"):
    """Turn the API's `expires_at` / `expires_in` into a datetime, None (never) or UNSET.

    `expires_in` is a duration ("30m", "12h", "7d", or seconds) or "never"; `expires_at` is an
    aware datetime or None (never). Neither given: UNSET (the caller applies the default).
    The admin's rules (a cap, whether "never" is allowed) are checked by `expiry_check`.
    """
    if expires_at is not UNSET and expires_in is not UNSET:
        raise ValidationError({"expires_in": _("Give either expires_at or expires_in, not both.")})
    if expires_in is not UNSET:
        if expires_in is None or str(expires_in).strip().lower() == NEVER:
            return None
        try:
            seconds = parse_duration(expires_in)
        except (ValueError, TypeError):
            raise ValidationError(
                {"expires_in": _("Give a duration such as 30m, 12h or 7d, or a number of seconds.")}
            ) from None
        if seconds <= 0:
            raise ValidationError({"expires_in": _("The duration must be longer than zero.")})
        try:
            return timezone.now() + timedelta(seconds=seconds)
        except OverflowError:  # beyond the year 9999
            raise ValidationError(
                {"expires_in": _("The duration is too long: the link would expire after 9999.")}
            ) from None
    return expires_at


def expiry_default() -> datetime | None:
    seconds = settings.LOCKER_SHARE_DEFAULT_EXPIRY
    if settings.LOCKER_SHARE_MAX_EXPIRY:
        seconds = min(seconds or settings.LOCKER_SHARE_MAX_EXPIRY, settings.LOCKER_SHARE_MAX_EXPIRY)
    return timezone.now() + timedelta(seconds=seconds) if seconds else None


def expiry_check(expires_at: datetime | None, *, created_at: datetime | None = None) -> None:
    now = timezone.now()
    cap = settings.LOCKER_SHARE_MAX_EXPIRY
    if expires_at is None:
        if cap or not settings.LOCKER_SHARE_ALLOW_NEVER:
            raise ValidationError(
                {"expires_at": _("Links on this server must have an expiry date.")}
            )
        return
    if timezone.is_naive(expires_at):
        raise ValidationError({"expires_at": _("Give the expiry with a time zone.")})
    if expires_at <= now:
        raise ValidationError({"expires_at": _("The expiry must be in the future.")})
    if cap and expires_at > (created_at or now) + timedelta(seconds=cap) + timedelta(seconds=5):
        raise ValidationError(
            {
                "expires_at": _("Links on this server may last at most %(days)s days.")
                % {"days": round(cap / 86400, 1)}
            }
        )


# --- Both kinds of link ----------------------------------------------------------------------


def password_hash(password: str) -> str:
    return make_password(password) if password else ""


def link_create(
    *,
    model: type[Link],
    action: A,
    expires_at,
    password: str,
    label: str,
    audit_extra: dict | None = None,
    **fields,
) -> tuple[Link, str]:
    """Create a link of either kind, after the kind's own checks, and record `action`. Returns
    it with its token, which is stored only sealed under the master key (the owner may copy the
    link again: `link_url_again`). `expires_at` UNSET: the server's default expiry."""
    if expires_at is UNSET:
        expires_at = expiry_default()
    expiry_check(expires_at)
    token = tokens.new_token()
    link = model(
        token_hash=tokens.hash_token(token),
        expires_at=expires_at,
        password_hash=password_hash(password),
        label=(label or "").strip(),
        **fields,
    )
    tokens.token_seal(link, token)
    link.full_clean()
    with transaction.atomic():
        link.save()
        audit(action, target=link, has_password=bool(password), **(audit_extra or {}))
    return link, token


def link_update(
    *, link: Link, action: A, limits: dict, options: dict, clean: Callable[[dict], None]
) -> Link:
    """Edit a link of either kind, after the rules both share and the kind's own (`clean`),
    and record `action` with the names of the fields given.

    `limits` (the expiry and the kind's limits) leave a field as it is when UNSET, None being
    a value (never, no limit); `options` leave it as it is when None. A `password` of "" removes
    the password.
    """
    if link.revoked_at is not None:
        raise ValidationError({"detail": _("This link was revoked and cannot be changed.")})
    data = {name: value for name, value in limits.items() if value is not UNSET}
    data |= {name: value for name, value in options.items() if value is not None}
    if "expires_at" in data:
        expiry_check(data["expires_at"], created_at=link.created_at)
    clean(data)
    if "password" in data:
        # A new hash (salted, so always new) invalidates every unlock cookie issued before.
        data["password_hash"] = password_hash(data.pop("password"))
    if "label" in data:
        data["label"] = data["label"].strip()
    if data:
        with transaction.atomic():
            model_update(instance=link, data=data)
            audit(action, target=link, fields=sorted(data))
    return link


def link_revoke(*, link: Link, action: A) -> bool:
    """Kill a link of either kind at once and record `action`. False when it was already
    revoked (a conditional update: of racing revocations, one wins)."""
    updated = (
        type(link)
        .objects.filter(pk=link.pk, revoked_at__isnull=True)
        .update(revoked_at=timezone.now())
    )
    link.refresh_from_db(fields=["revoked_at"])
    if updated == 1:
        audit(action, target=link)
    return updated == 1


# --- Share links -----------------------------------------------------------------------------


def _check_target(*, owner, file: File | None, folder: Folder | None) -> None:
    if (file is None) == (folder is None):
        raise ValidationError({"file": _("Share either one file or one folder.")})
    from sharing.selectors import file_is_alive, folder_is_alive

    item = file or folder
    # Callers look targets up scoped to the owner; this is the last line of defence.
    if item.owner_id != owner.pk:
        raise ValidationError({"file": _("There is no such file or folder.")})
    if file is not None and not file_is_alive(file):
        raise ValidationError({"file": _("This file is in the trash.")})
    if folder is not None and not folder_is_alive(folder):
        raise ValidationError({"folder": _("This folder is in the trash.")})


def _clean_options(*, max_downloads, label) -> None:
    if max_downloads is not None and max_downloads < 1:
        raise ValidationError({"max_downloads": _("Allow at least one download, or no limit.")})
    if label is not None and len(label) > 200:
        raise ValidationError({"label": _("Keep the label under 200 characters.")})


def share_create(
    *,
    owner,
    file: File | None = None,
    folder: Folder | None = None,
    expires_at=UNSET,
    max_downloads: int | None = None,
    password: str = "",
    allow_download: bool = True,
    notify: bool = False,
    label: str = "",
    is_send: bool = False,
    keep_files: bool = True,
) -> tuple[ShareLink, str]:
    """Create a link; returns it with its token (kept sealed: `link_url_again`)."""
    _check_target(owner=owner, file=file, folder=folder)
    _clean_options(max_downloads=max_downloads, label=label)
    return link_create(
        model=ShareLink,
        action=A.SHARE_CREATED,
        audit_extra={"is_send": is_send},
        expires_at=expires_at,
        password=password,
        label=label,
        owner=owner,
        file=file,
        folder=folder,
        max_downloads=max_downloads,
        allow_download=allow_download,
        notify=notify,
        is_send=is_send,
        keep_files=keep_files,
    )


def share_selection_create(
    *, owner, files: list[File], folders: list[Folder], **options
) -> tuple[ShareLink, str]:
    """One link over several files and folders of one folder (a selection of the Files page),
    with the options of `share_create`. The items are not moved or copied: the link shows them
    where they are, in the folder they were picked in (docs/sharing.md, "Selection shares").
    A single item gets an ordinary share of it. Callers fetched the items scoped to `owner`
    (`files.selectors.selection_get_for_user`): alive and theirs. A constant number of queries
    however many items."""
    if len(files) + len(folders) == 1:
        return share_create(
            owner=owner,
            file=files[0] if files else None,
            folder=folders[0] if folders else None,
            **options,
        )
    if not files and not folders:
        raise ValidationError({"files": _("Select at least one file or folder to share.")})
    if any(item.owner_id != owner.pk for item in [*files, *folders]):
        raise ValidationError({"files": _("There is no such file or folder.")})
    parents = {file.folder_id for file in files} | {folder.parent_id for folder in folders}
    if len(parents) != 1:
        raise ValidationError(
            {"files": _("Share items of one folder at a time: these are in different folders.")}
        )
    parent = Folder.objects.get(pk=parents.pop())
    _check_target(owner=owner, file=None, folder=parent)
    _clean_options(max_downloads=options.get("max_downloads"), label=options.get("label"))
    with transaction.atomic():
        share, token = link_create(
            model=ShareLink,
            action=A.SHARE_CREATED,
            audit_extra={"is_send": False, "items": len(files) + len(folders)},
            expires_at=options.get("expires_at", UNSET),
            password=options.get("password", ""),
            label=options.get("label", ""),
            owner=owner,
            folder=parent,
            is_selection=True,
            max_downloads=options.get("max_downloads"),
            allow_download=options.get("allow_download", True),
            notify=options.get("notify", False),
        )
        ShareLinkItem.objects.bulk_create(
            [ShareLinkItem(share=share, file=file) for file in files]
            + [ShareLinkItem(share=share, folder=folder) for folder in folders]
        )
    return share, token


def share_update(
    *,
    share: ShareLink,
    expires_at=UNSET,
    max_downloads=UNSET,
    password: str | None = None,
    allow_download: bool | None = None,
    notify: bool | None = None,
    label: str | None = None,
) -> ShareLink:
    """Edit a link's options; UNSET or None leaves an option as it is, except that
    `expires_at=None` means never and `max_downloads=None` no limit. `password=""` removes the
    password.
    """
    return link_update(
        link=share,
        action=A.SHARE_CHANGED,
        limits={"expires_at": expires_at, "max_downloads": max_downloads},
        options={
            "password": password,
            "allow_download": allow_download,
            "notify": notify,
            "label": label,
        },
        clean=lambda data: _clean_options(
            max_downloads=data.get("max_downloads"), label=data.get("label")
        ),
    )


def share_revoke(*, share: ShareLink) -> bool:
    """Kill a link at once (a `share.revoked` webhook event). False when it was already
    revoked."""
    with transaction.atomic():
        revoked = link_revoke(link=share, action=A.SHARE_REVOKED)
        if revoked:
            webhooks.emit("share.revoked", owner=share.owner, data=share_event_data(share))
    return revoked


def share_count_download(*, share: ShareLink) -> bool:
    """Count one download; False when the limit is reached. Atomic across processes:
    `UPDATE … SET n = n + 1 WHERE n < max`, so N+k racing requests get exactly N successes."""
    updated = (
        ShareLink.objects.filter(pk=share.pk, revoked_at__isnull=True)
        .filter(Q(max_downloads__isnull=True) | Q(download_count__lt=F("max_downloads")))
        .update(download_count=F("download_count") + 1)
    )
    return updated == 1


def share_uncount_download(*, share: ShareLink) -> None:
    """Give back a download that was counted but could not be served (storage failed)."""
    ShareLink.objects.filter(pk=share.pk, download_count__gt=0).update(
        download_count=F("download_count") - 1
    )


# --- Access log ------------------------------------------------------------------------------


def access_log_ip(ip: str | None) -> str | None:
    if ip and settings.LOCKER_ANONYMISE_IPS:
        return truncate_ip(ip)
    try:
        return str(ipaddress.ip_address(ip)) if ip else None
    except ValueError:
        return None


def share_access_start(
    *,
    share: ShareLink,
    ip: str | None,
    user_agent: str,
    file: File | None,
    name: str,
    is_zip: bool,
    counted: bool,
    range_start: int,
    resume_hash: str | None = None,
) -> ShareAccess:
    notify = share.notify and counted
    access = ShareAccess.objects.create(
        share=share,
        file=file,
        name=name[:255],
        is_zip=is_zip,
        counted=counted,
        range_start=range_start,
        ip=access_log_ip(ip),
        user_agent=(user_agent or "")[:255],
        resume_hash=resume_hash,
        notify_pending=notify,
    )
    audit(A.SHARE_ACCESSED, target=share, access=access.pk, file=name[:200], is_zip=is_zip)
    if notify:
        share_notification_schedule(share=share)
    return access


# --- Download notifications ------------------------------------------------------------------

NOTIFY_BATCH_DELAY = 300  # seconds: downloads meanwhile share one e-mail (as upload links do)
NOTIFY_LIST_MAX = 50  # downloads listed by name in one e-mail; the rest are counted


def share_notification_schedule(*, share: ShareLink, now: datetime | None = None) -> bool:
    """After a counted download of a link with `notify`: queue the e-mail that reports it,
    unless one is already due (it will report this download too). At most one e-mail per link
    per NOTIFY_BATCH_DELAY, whatever the number of downloads: one conditional UPDATE decides
    which download queues it, so simultaneous downloads queue one. True when this one did."""
    now = now or timezone.now()
    claimed = (
        ShareLink.objects.filter(pk=share.pk)
        .filter(Q(notify_due_at__isnull=True) | Q(notify_due_at__lte=now))
        .update(notify_due_at=now + timedelta(seconds=NOTIFY_BATCH_DELAY))
    )
    if claimed:
        transaction.on_commit(lambda: _queue_notification(share.pk))
    return bool(claimed)


def _queue_notification(share_id: int, *, delay: int = NOTIFY_BATCH_DELAY) -> None:
    try:
        task_queue("sharing.tasks.notify_share_downloads", (share_id,), countdown=delay)
    except Exception:  # noqa: BLE001 - a broker hiccup must not break the download itself
        # Not lost: the cleanup reports downloads left unreported (shares_cleanup).
        logger.warning("Could not queue the download notification of %s", share_id, exc_info=True)


def share_notify_owner(*, share_id: int) -> int:
    """One e-mail to the owner listing the link's downloads not yet reported; returns how many
    it reported. Runs for one link take turns (a lock on its row), and each claims what it
    reports in the same transaction, so no download is reported twice; an owner without an
    address has them dropped rather than kept forever."""
    with transaction.atomic():
        share = (
            ShareLink.objects.select_for_update(no_key=True, of=("self",))
            .select_related("owner", "file", "folder")
            .filter(pk=share_id)
            .first()
        )
        if share is None:
            return 0
        pending = ShareAccess.objects.filter(share=share, notify_pending=True)
        pks = list(pending.order_by("at", "pk").values_list("pk", flat=True)[:10_000])
        ShareAccess.objects.filter(pk__in=pks).update(notify_pending=False)
        accesses = list(
            ShareAccess.objects.filter(pk__in=pks[:NOTIFY_LIST_MAX]).order_by("at", "pk")
        )
    if not pks or not share.owner.email:
        return 0
    context = {
        "share": share,
        "owner": share.owner,
        "name": share.selection_name if share.is_selection else getattr(share.target, "name", ""),
        "accesses": accesses,
        "count": len(pks),
        "more": len(pks) - len(accesses),
    }
    try:
        with for_recipient(user=share.owner):
            subject = render_to_string("sharing/email/downloaded_subject.txt", context).strip()
            body = render_to_string("sharing/email/downloaded.txt", context)
        send_mail(
            subject=subject,
            message=body,
            from_email=None,
            recipient_list=[share.owner.email],
            fail_silently=False,
        )
    except Exception:
        # Unreported again, so the task's retry (on a mail server error) reports them.
        ShareAccess.objects.filter(pk__in=pks).update(notify_pending=True)
        raise
    return len(pks)


def share_notifications_overdue(*, now: datetime | None = None) -> int:
    """Queue the e-mail of every link whose unreported downloads are overdue (its queued e-mail
    was lost: a broker outage, a worker killed mid-task); returns how many links."""
    now = now or timezone.now()
    overdue = now - timedelta(seconds=2 * NOTIFY_BATCH_DELAY)
    share_ids = list(
        ShareAccess.objects.filter(notify_pending=True, at__lt=overdue)
        .order_by()
        .values_list("share_id", flat=True)
        .distinct()[:1000]
    )
    for share_id in share_ids:
        _queue_notification(share_id, delay=0)
    return len(share_ids)


def share_access_take(*, access_id: int, nbytes: int, budget: int) -> bool:
    """Take `nbytes` of a download's budget before sending them; False when they would pass
    it. One conditional UPDATE, so simultaneous requests of one download share it exactly."""
    return (
        ShareAccess.objects.filter(pk=access_id, bytes_sent__lte=budget - nbytes).update(
            bytes_sent=F("bytes_sent") + nbytes
        )
        == 1
    )


def share_access_finish(*, access_id: int, unreported: int, completed: bool) -> None:
    """A request of this download ended: add the bytes it sent and had not taken (negative: give
    back what it took and did not send); `completed` once a request sent the file to its end."""
    changes: dict = {"bytes_sent": F("bytes_sent") + unreported}
    if completed:
        # The first request to complete this download is a `share.downloaded` event; a resumed
        # one that completes it again is not.
        with transaction.atomic():
            first = ShareAccess.objects.filter(pk=access_id, completed=False).update(
                completed=True, **changes
            )
            if first:
                _emit_downloaded(access_id)
                return
    ShareAccess.objects.filter(pk=access_id).update(**changes)


def _emit_downloaded(access_id: int) -> None:
    access = (
        ShareAccess.objects.select_related(
            "share__owner", "share__file__folder", "share__folder", "file__folder"
        )
        .filter(pk=access_id)
        .first()
    )
    if access is None:
        return
    data = share_event_data(access.share)
    data["download"] = {
        "file": file_event_data(access.file)["file"] if access.file_id else None,
        "name": access.name,
        "is_zip": access.is_zip,
        "ip": access.ip,
        "at": access.at,
    }
    webhooks.emit("share.downloaded", owner=access.share.owner, data=data)


def share_access_resume(*, access_id: int) -> None:
    """A Range request continues this counted download (no new row, no new audit event)."""
    ShareAccess.objects.filter(pk=access_id).update(resumes=F("resumes") + 1)


def access_log_prune(*, days: int | None = None, run: JobRun | None = None) -> int:
    """Delete access-log rows older than LOCKER_ACCESS_LOG_DAYS, oldest first through the `at`
    index, LOCKER_JOB_BATCH_SIZE per DELETE, while the run's time budget lasts."""
    days = settings.LOCKER_ACCESS_LOG_DAYS if days is None else days
    cutoff = timezone.now() - timedelta(days=days)
    old = ShareAccess.objects.filter(at__lt=cutoff).order_by("at", "pk")
    return delete_oldest_in_batches(old, run or JobRun())


# --- Housekeeping ----------------------------------------------------------------------------


def _dead_links_batch(now: datetime, size: int) -> list[int]:
    """Up to `size` links that died and are not handled yet, each kind of death found through
    its own partial index of unhandled links (sharing_link_expiry_unhandled, …_revoked_…,
    …_used_up_…), so the live links are never read."""
    unhandled = ShareLink.objects.filter(cleaned_at__isnull=True).order_by()
    found: list[int] = []
    seen: set[int] = set()
    for dead in (
        unhandled.filter(expires_at__isnull=False, expires_at__lte=now).order_by("expires_at"),
        unhandled.filter(revoked_at__isnull=False).order_by("pk"),
        unhandled.filter(
            max_downloads__isnull=False, download_count__gte=F("max_downloads")
        ).order_by("pk"),
    ):
        for pk in dead.values_list("pk", flat=True)[:size]:
            if pk not in seen:
                seen.add(pk)
                found.append(pk)
        if len(found) >= size:
            break
    return found[:size]


def _handle_dead_links(pks: list[int], now: datetime) -> tuple[int, int]:
    """Claim the links (row locks, skipping those another run holds, then one UPDATE) and trash
    their quick-send files, in one transaction; returns (links handled, items trashed)."""
    from files.services import file_trash, folder_trash

    trashed = 0
    with transaction.atomic():
        claimed = list(
            ShareLink.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(pk__in=pks, cleaned_at__isnull=True)
            .select_related("file__folder", "folder", "owner")
        )
        ShareLink.objects.filter(pk__in=[share.pk for share in claimed]).update(cleaned_at=now)
        for share in claimed:
            if (
                share.revoked_at is None
                and share.expires_at is not None
                and share.expires_at <= now
            ):
                webhooks.emit("share.expired", owner=share.owner, data=share_event_data(share))
            if not share.is_send or share.keep_files:
                continue
            if share.file_id and share.file.deleted_at is None:
                file_trash(file=share.file)
                trashed += 1
            elif share.folder_id and share.folder.deleted_at is None and share.folder.parent_id:
                folder_trash(folder=share.folder)
                trashed += 1
    return len(claimed), trashed


def _dead_links_cleanup_batch(now: datetime, size: int) -> tuple[tuple[int, int], bool]:
    """One batch of dead links handled: ((links, items trashed), whether to go on)."""
    pks = _dead_links_batch(now, size)
    links, items = _handle_dead_links(pks, now) if pks else (0, 0)
    # Fewer than a batch left, or all of it held by another run, which goes on with it.
    return (links, items), len(pks) >= size and links > 0


def shares_cleanup(*, now: datetime | None = None, run: JobRun | None = None) -> dict[str, int]:
    """Mark dead links as handled, trash quick-send files whose link died, prune old logs.

    Expiry is enforced at request time anyway; this is housekeeping. Dead links are handled
    LOCKER_JOB_BATCH_SIZE at a time, each batch claimed under row locks (`SKIP LOCKED` on
    PostgreSQL; SQLite's writers take turns) and marked handled in the same transaction as its
    files are trashed, so two runs at once never handle a link twice and an interrupted run
    leaves each batch either fully handled or untouched. The run stops taking batches once
    LOCKER_JOB_TIME_BUDGET has passed; the next one goes on.
    """
    now = now or timezone.now()
    run = run or JobRun()
    done = repeat_batches(run, partial(_dead_links_cleanup_batch, now))
    handled = sum(links for links, _items in done)
    trashed = sum(items for _links, items in done)
    return {
        "links": handled,
        "trashed": trashed,
        # At least one batch of its own, within what is left of the budget.
        "accesses_pruned": access_log_prune(run=JobRun(budget=run.remaining)),
        "notifications_requeued": share_notifications_overdue(now=now),
    }


# --- Quick send ------------------------------------------------------------------------------

SENT_FOLDER_NAME = "Sent"


def sent_folder_get(*, owner) -> Folder:
    """The owner's "Sent" folder at the top of their locker, created on first use."""
    from files.selectors import folder_get_root
    from files.services import NameConflict, folder_create

    root = folder_get_root(owner)
    existing = Folder.objects.alive().filter(parent=root, name_key=SENT_FOLDER_NAME.casefold())
    folder = existing.first()
    if folder is not None:
        return folder
    try:
        return folder_create(user=owner, parent=root, name=SENT_FOLDER_NAME)
    except NameConflict:  # a concurrent send created it, or a file took the name
        folder = existing.first()
        if folder is None:
            raise
        return folder


def quick_send(
    *, owner, contents: list, reservation=None, keep_files: bool = False, **share_options
) -> tuple[ShareLink, str]:
    """Store uploaded contents in "Sent" and share them in one step.

    One file is shared as a file (stored in "Sent"); several go into a new folder in "Sent"
    named after the label or the time, shared as a folder. Unless `keep_files`, the cleanup
    moves them to the trash when the link dies. All or nothing: on an error no file, folder or
    link is left (the caller deletes the stored contents).
    """
    from files.names import unique_name
    from files.services import ON_CONFLICT, files_create, folder_create

    if not contents:
        raise ValidationError({"file": _("Send at least one file.")})
    with transaction.atomic():
        folder = sent_folder_get(owner=owner)
        if len(contents) > 1:
            base = (share_options.get("label") or "").strip().replace("/", "-")[:100] or (
                timezone.localtime().strftime("%Y-%m-%d %H.%M.%S")
            )
            taken = set(
                Folder.objects.alive().filter(parent=folder).values_list("name_key", flat=True)
            ) | set(File.objects.alive().filter(folder=folder).values_list("name_key", flat=True))
            folder = folder_create(user=owner, parent=folder, name=unique_name(taken, base))
        created = files_create(
            user=owner,
            folder=folder,
            contents=contents,
            on_conflict=ON_CONFLICT.RENAME,
            reservation=reservation,
        )
        target = {"file": created[0]} if len(contents) == 1 else {"folder": folder}
        return share_create(
            owner=owner, **target, is_send=True, keep_files=keep_files, **share_options
        )
