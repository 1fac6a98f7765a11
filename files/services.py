"""What the locker does: folders, files, names, trash, usage and quota.

Every function is keyword-only and runs in a transaction. Name checks lock the parent folder's
row (PostgreSQL `SELECT … FOR UPDATE`; SQLite serialises writers with IMMEDIATE transactions),
so that a file and a folder cannot take the same name in one folder concurrently; the partial
unique constraints catch whatever slips through as a conflict, never as a 500.
"""

import codecs
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

import filetype
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, connection, transaction
from django.db.models import BigIntegerField, Case, F, Q, QuerySet, Value, When
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.audit import A, audit, audit_many
from files import processing_queue
from files.events import file_event_data
from files.link_uploads import link_upload_probed
from files.models import File, Folder, Thumbnail, TusUpload, UploadReservation
from files.names import InvalidName, name_key, unique_name, validate_name
from files.selectors import (
    folder_ancestors,
    folder_depth,
    folder_descendant_ids,
    folder_get_root,
    folder_subtree_height,
)
from locker.celery import task_queue
from locker.formats import size_text
from locker.jobs import JobRun, repeat_batches
from storage.blobs import blobs_take_for_use
from storage.exceptions import ContentGone as ContentGone  # noqa: F401 - raised by files_create
from storage.models import Blob
from storage.resumable import resumable_discard
from webhooks import services as webhooks

logger = logging.getLogger(__name__)


class NameConflict(Exception):
    """`name` is taken in `folder` (when known: the API then names the item that holds it,
    files.selectors.item_named)."""

    def __init__(self, name: str, *, folder: "Folder | None" = None):
        self.name = name
        self.folder = folder
        super().__init__(
            _("An item named “%(name)s” already exists in this folder.") % {"name": name}
        )


class InvalidMove(Exception):
    pass


class FolderTooDeep(InvalidMove):
    """The change would put a folder deeper than LOCKER_MAX_FOLDER_DEPTH levels."""


class QuotaExceeded(Exception):
    pass


class TooManyOpenUploads(Exception):
    """The user already has LOCKER_MAX_OPEN_UPLOADS uploads in progress; the message says how
    many and how to cancel them."""


class FolderGone(Exception):
    """The target folder was moved to the trash (or deleted) while this request ran."""


class ON_CONFLICT:  # noqa: N801 - a namespace of two constants
    REFUSE = "refuse"
    RENAME = "rename"


# --- names in a folder ------------------------------------------------------------------------


def _lock_folder(folder: Folder) -> None:
    """Serialise name changes inside `folder` (SQLite's writers queue anyway), and make sure it
    is still alive: a folder trashed by a concurrent request takes nothing new."""
    alive = Folder.objects.select_for_update().filter(pk=folder.pk, deleted_at__isnull=True)
    if not list(alive.values_list("pk", flat=True)):
        raise FolderGone(folder.pk)


def _taken_keys(folder: Folder, *, exclude_file=None, exclude_folder=None) -> set[str]:
    files = File.objects.alive().filter(folder=folder)
    folders = Folder.objects.alive().filter(parent=folder)
    if exclude_file is not None:
        files = files.exclude(pk=exclude_file.pk)
    if exclude_folder is not None:
        folders = folders.exclude(pk=exclude_folder.pk)
    return set(files.values_list("name_key", flat=True)) | set(
        folders.values_list("name_key", flat=True)
    )


def _check_free(folder: Folder, name: str, *, exclude_file=None, exclude_folder=None) -> None:
    key = name_key(name)
    files = File.objects.alive().filter(folder=folder, name_key=key)
    folders = Folder.objects.alive().filter(parent=folder, name_key=key)
    if exclude_file is not None:
        files = files.exclude(pk=exclude_file.pk)
    if exclude_folder is not None:
        folders = folders.exclude(pk=exclude_folder.pk)
    if files.exists() or folders.exists():
        raise NameConflict(name, folder=folder)


def _save_or_conflict(obj, name: str) -> None:
    try:
        with transaction.atomic():
            obj.full_clean(
                exclude=["owner", "parent", "folder", "blob", "trash_root"],
                validate_unique=False,
                validate_constraints=False,
            )
            obj.save()
    except IntegrityError:
        folder = obj.folder if isinstance(obj, File) else obj.parent
        raise NameConflict(name, folder=folder) from None


# --- folders ----------------------------------------------------------------------------------


def _lock_tree(owner_id: int) -> None:
    """Serialise changes to the shape of one user's tree (create, move, restore, trash).

    Depth and cycle checks read the tree and then change it; with the owner's root row locked
    (PostgreSQL `FOR UPDATE`; SQLite's writers queue anyway) two moves cannot each pass their
    check and together make a cycle or pass the depth cap. Always taken before any other
    folder lock, so the order is the same everywhere.
    """
    root = Folder.objects.select_for_update().filter(owner_id=owner_id, parent__isnull=True)
    list(root.values_list("pk", flat=True))


def item_lock_for_change(*, item: File | Folder) -> None:
    """Lock a file's or a folder's row until the end of the transaction, before a change that
    must see it as it is now (the API's `If-Match`). The owner's tree lock comes first: the
    order every change of the tree takes (tree, then folders, then files), so that holding the
    item while the change takes its own locks cannot deadlock with another request."""
    _lock_tree(item.owner_id)
    list(type(item).objects.select_for_update().filter(pk=item.pk).values_list("pk", flat=True))


def _too_deep(depth: int) -> FolderTooDeep:
    return FolderTooDeep(
        _("Folders can be nested at most %(max)s levels deep; this would make %(depth)s levels.")
        % {"max": settings.LOCKER_MAX_FOLDER_DEPTH, "depth": depth}
    )


def folder_create(*, user, parent: Folder | None, name: str) -> Folder:
    name = validate_name(name)
    parent = parent or folder_get_root(user)
    with transaction.atomic():
        _lock_tree(user.pk)
        _lock_folder(parent)
        depth = folder_depth(folder_id=parent.pk) + 1
        if depth > settings.LOCKER_MAX_FOLDER_DEPTH:
            raise _too_deep(depth)
        _check_free(parent, name)
        folder = Folder(owner=user, parent=parent, name=name, name_key=name_key(name))
        _save_or_conflict(folder, name)
    return folder


def folder_path_split(path: object) -> list[str]:
    """The folder names of a relative path ("a/b/c"), each checked by the name rules.

    A path cannot start with "/" or hold an empty, "." or ".." segment: it is relative to its
    target folder and never leaves it. A "\\" is a character of a name, not a separator."""
    if not isinstance(path, str):
        raise InvalidName(_("A path must be text."), code="invalid")
    parts = path.split("/")
    if path.startswith("/") or any(part in ("", ".", "..") for part in parts):
        raise InvalidName(
            _(
                "A path is folder names separated by “/”, relative to the target folder "
                "(no leading “/”, no empty, “.” or “..” part)."
            ),
            code="path",
        )
    return [validate_name(part) for part in parts]


def folder_ensure_path(*, user, parent: Folder | None, path: str) -> tuple[Folder, int]:
    """The folder at `path` below `parent` (the root when None), creating the missing ones,
    like `mkdir -p`: an existing folder of that name (any case) is reused; a file of that name
    is a NameConflict. Refused past LOCKER_MAX_FOLDER_DEPTH before anything is created.
    Returns the deepest folder and how many were created. Two queries per segment at most,
    under the tree lock, so that two uploads into the same new folder make it once."""
    names = folder_path_split(path)
    parent = parent or folder_get_root(user)
    created = 0
    with transaction.atomic():
        _lock_tree(user.pk)
        _lock_folder(parent)
        depth = folder_depth(folder_id=parent.pk) + len(names)
        if depth > settings.LOCKER_MAX_FOLDER_DEPTH:
            raise _too_deep(depth)
        for name in names:
            key = name_key(name)
            # Locked as it is found, as `_lock_folder` does for the first parent: an upload or
            # a rename into it (which lock only their folder) must wait, or it could take the
            # name of the folder being created in it.
            existing = (
                Folder.objects.select_for_update()
                .filter(parent=parent, name_key=key, deleted_at__isnull=True)
                .first()
            )
            if existing is not None:
                parent = existing
                continue
            if File.objects.alive().filter(folder=parent, name_key=key).exists():
                raise NameConflict(name, folder=parent)
            folder = Folder(owner=user, parent=parent, name=name, name_key=key)
            _save_or_conflict(folder, name)
            parent, created = folder, created + 1
    return parent, created


def _already_there(name: str) -> InvalidMove:
    return InvalidMove(
        _("“%(name)s” is already in this folder; choose another folder.") % {"name": name}
    )


def _check_new_place(folder: Folder, new_parent: Folder) -> None:
    """Refuse to put `folder` (and what is below it) inside `new_parent`: a cycle or past the
    depth cap. Two queries whatever the depth: the target's ancestry and the subtree's height."""
    chain = folder_ancestors(folder_id=new_parent.pk)
    if any(ancestor.pk == folder.pk for ancestor in chain):
        raise InvalidMove(_("A folder cannot be moved into itself or one of its subfolders."))
    depth = len(chain)  # the root is chain[0], so `folder` would be at this level
    cap = settings.LOCKER_MAX_FOLDER_DEPTH
    if depth > cap:
        raise _too_deep(depth)
    deepest = depth + folder_subtree_height(folder=folder, limit=cap - depth + 1)
    if deepest > cap:
        # The walk above stops one level past the cap; the refusal names the depth the move
        # would really make (one more query, on this path only: a tree is at most `cap` high).
        raise _too_deep(depth + folder_subtree_height(folder=folder, limit=cap))


def folder_update(
    *, folder: Folder, name: str | None = None, parent: Folder | None = None
) -> Folder:
    """Rename and/or move `folder` (a `parent` of None leaves it where it is).

    A move counts the deepest live folder below `folder`: it must stay within
    LOCKER_MAX_FOLDER_DEPTH levels at its new place.
    """
    new_name = validate_name(name) if name is not None else folder.name
    new_parent = parent if parent is not None else folder.parent
    if new_parent.owner_id != folder.owner_id:
        raise InvalidMove(_("The target folder does not exist."))
    if new_parent.pk == folder.pk:
        raise InvalidMove(_("A folder cannot be moved into itself or one of its subfolders."))
    if new_name == folder.name and new_parent.pk == folder.parent_id:
        if parent is not None:  # asked to move, to where it already is: say so, not "moved"
            raise _already_there(folder.name)
        return folder
    with transaction.atomic():
        _lock_tree(folder.owner_id)
        _lock_folder(new_parent)
        if new_parent.pk != folder.parent_id:
            _check_new_place(folder, new_parent)
        _check_free(new_parent, new_name, exclude_folder=folder)
        folder.name = new_name
        folder.name_key = name_key(new_name)
        folder.parent = new_parent
        folder.modified_at = timezone.now()
        _save_or_conflict(folder, new_name)
    return folder


# --- files ------------------------------------------------------------------------------------


def file_update(*, file: File, name: str | None = None, folder: Folder | None = None) -> File:
    """Rename and/or move `file` (a `folder` of None leaves it where it is)."""
    new_name = validate_name(name) if name is not None else file.name
    new_folder = folder if folder is not None else file.folder
    if new_folder.owner_id != file.owner_id:
        raise InvalidMove(_("The target folder does not exist."))
    if new_name == file.name and new_folder.pk == file.folder_id:
        if folder is not None:  # asked to move, to where it already is: say so, not "moved"
            raise _already_there(file.name)
        return file
    with transaction.atomic():
        _lock_folder(new_folder)
        _check_free(new_folder, new_name, exclude_file=file)
        file.name = new_name
        file.name_key = name_key(new_name)
        file.folder = new_folder
        file.modified_at = timezone.now()
        _save_or_conflict(file, new_name)
    return file


_TEXT_SAMPLE_LIMIT = 8192


def content_type_detect(head: bytes) -> str:
    """The type of content from its first bytes, never from the client's claim.

    Markup (HTML, SVG, XML) is recognised so that it is never served inline.
    """
    if not head:
        return "application/octet-stream"
    kind = filetype.guess(head)
    if kind is not None:
        return kind.mime
    sample = head[:_TEXT_SAMPLE_LIMIT]
    try:
        text = codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
    except UnicodeDecodeError:
        return "application/octet-stream"
    if "\x00" in text:
        return "application/octet-stream"
    start = text.lstrip("\ufeff \t\r\n").lower()
    if start.startswith("<"):
        if "<svg" in start:
            return "image/svg+xml"
        if start.startswith("<?xml"):
            return "application/xml"
        return "text/html"
    return "text/plain"


@dataclass
class NewFileContent:
    """Bytes already stored in a complete blob, waiting for their File row."""

    name: str
    blob: Blob
    size: int
    sha256: str
    content_type: str


def files_create(
    *,
    user,
    folder: Folder | None,
    contents: list[NewFileContent],
    on_conflict: str = ON_CONFLICT.REFUSE,
    reservation: UploadReservation | None = None,
    uploaded_by: dict | None = None,
) -> list[File]:
    """Create the File rows for stored contents, all or none, and count their bytes as used.

    Each file is a `file.uploaded` webhook event (and `file.ready` at once without a scanner);
    `uploaded_by` says who sent it (an upload link's visitor), else the owner did.

    The reservation (if any) is released in the same transaction. Blobs are not deleted here on
    failure: the caller owns them until this returns. Raises ContentGone when a blob was
    reclaimed as unreferenced meanwhile (see storage.blobs.blobs_take_for_use).
    """
    folder = folder or folder_get_root(user)
    names = [validate_name(content.name) for content in contents]
    now = timezone.now()
    created: list[File] = []
    with transaction.atomic():
        _lock_folder(folder)
        blobs_take_for_use([content.blob.pk for content in contents])
        taken = _taken_keys(folder)
        for content, name in zip(contents, names, strict=True):
            if name_key(name) in taken:
                if on_conflict != ON_CONFLICT.RENAME:
                    raise NameConflict(name, folder=folder)
                name = unique_name(taken, name)
            taken.add(name_key(name))
            file = File(
                owner=user,
                folder=folder,
                name=name,
                name_key=name_key(name),
                blob=content.blob,
                size=content.size,
                content_type=content.content_type,
                sha256=content.sha256,
                state=processing_queue.initial_state(),
                processing_due_at=now,
                created_at=now,
                modified_at=now,
            )
            _save_or_conflict(file, name)
            created.append(file)
        total = sum(content.size for content in contents)
        get_user_model().objects.filter(pk=user.pk).update(used_bytes=F("used_bytes") + total)
        # A reservation gone means cancelled by the owner or reclaimed: nothing is created.
        if (
            reservation is not None
            and not (UploadReservation.objects.filter(pk=reservation.pk).delete()[0])
        ):
            raise UploadCancelled()
        # Scanning and thumbnails start once the rows are committed (docs/workers.md).
        processing_queue.queue_processing([file.pk for file in created])
        _emit_uploaded(user, folder, created, uploaded_by)
    return created


def _emit_uploaded(user, folder: Folder, created: list[File], uploaded_by: dict | None) -> None:
    uploader = uploaded_by or {"user": webhooks.owner_data(user)}
    items = [{**file_event_data(file, folder=folder), "uploaded_by": uploader} for file in created]
    webhooks.emit_each("file.uploaded", owner=user, items=items)
    ready = [file for file in created if file.state == File.State.READY]
    if ready:
        webhooks.emit_each(
            "file.ready",
            owner=user,
            items=[file_event_data(file, folder=folder) for file in ready],
        )


# --- quota ------------------------------------------------------------------------------------


class UploadCancelled(Exception):
    """The reservation of an upload in progress is gone: its owner cancelled the upload, its
    upload link was revoked, or it stalled past its lease and was reclaimed."""

    def __init__(self, message: str = ""):
        super().__init__(
            message or _("This upload was cancelled before it was complete; nothing was kept.")
        )


def _lease_end(now: datetime) -> datetime:
    return now + timedelta(seconds=settings.LOCKER_UPLOAD_LEASE)


def reserved_bytes(reservations) -> int:
    """The sizes of `reservations` added up in Python. Declared lengths up to 2^63 − 1 are
    allowed, so their sum may pass what a 64-bit integer holds: SQLite's SUM() then fails with
    "integer overflow" (PostgreSQL's returns numeric). The rows are few: a user has at most
    LOCKER_MAX_OPEN_UPLOADS uploads in progress, each link LOCKER_UPLOAD_LINK_MAX_OPEN."""
    return sum(reservations.values_list("size", flat=True))


def _quota_refusal(*, locked_user, size: int, reserved: int) -> "QuotaExceeded | None":
    """The refusal when `size` more bytes do not fit beside `reserved` ones, else None."""
    if locked_user.quota_bytes <= 0:
        return None
    free = max(locked_user.quota_bytes - locked_user.used_bytes - reserved, 0)
    if size <= free:
        return None
    message = _(
        "Not enough space: this upload needs %(size)s but only %(free)s of your "
        "%(quota)s quota is free. Delete files and empty the trash to make room."
    ) % {
        "size": size_text(size),
        "free": size_text(free),
        "quota": size_text(locked_user.quota_bytes),
    }
    if reserved:
        message += " " + _(
            "Unfinished uploads hold %(reserved)s of it until they finish, expire or are cancelled."
        ) % {"reserved": size_text(reserved)}
    return QuotaExceeded(message)


def _quota_check(*, locked_user, size: int, now: datetime, exclude_pk: int | None = None) -> None:
    """Raise QuotaExceeded unless `size` more bytes fit; call with the user's row locked."""
    if locked_user.quota_bytes <= 0:
        return
    live = UploadReservation.objects.live(now).filter(owner=locked_user)
    if exclude_pk is not None:
        live = live.exclude(pk=exclude_pk)
    refusal = _quota_refusal(locked_user=locked_user, size=size, reserved=reserved_bytes(live))
    if refusal is not None:
        raise refusal


def _open_uploads_refusal(*, open_uploads: int) -> "TooManyOpenUploads | None":
    """TooManyOpenUploads when the user has LOCKER_MAX_OPEN_UPLOADS uploads in progress
    (unfinished tus uploads and form uploads whose bytes are arriving), each costing a
    reservation and partial bytes, else None. Uploads through the user's links are not counted:
    a link has its own cap (LOCKER_UPLOAD_LINK_MAX_OPEN), and a stranger holding one must not
    keep the owner from uploading."""
    if open_uploads < settings.LOCKER_MAX_OPEN_UPLOADS:
        return None
    return TooManyOpenUploads(
        _(
            "You have %(count)d uploads in progress, the most Locker allows at once. Wait "
            "for one to finish, or cancel one: GET /api/v1/uploads/ lists them and "
            "DELETE /api/v1/uploads/<id>/ cancels one (a tus upload also with DELETE on "
            "its URL)."
        )
        % {"count": open_uploads}
    )


def upload_reservation_create(
    *, user, size: int, link=None, name: str = "", expires_at: datetime | None = None
) -> UploadReservation:
    """Promise `size` bytes to an upload, or raise QuotaExceeded before anything is stored.

    Raises TooManyOpenUploads when the user (not an upload link: `link`) already has
    LOCKER_MAX_OPEN_UPLOADS uploads in progress. The reservation counts until `expires_at` (by
    default a lease of LOCKER_UPLOAD_LEASE, which the request renews while its bytes arrive:
    upload_reservation_renew). The checks and the insert happen while the user's row is locked
    (SQLite: the IMMEDIATE transaction), so concurrent uploads cannot together pass a quota (or
    the cap) none of them could.

    Three statements in one transaction: lock the user's row; read the sizes of the live
    reservations (both checks come from these few rows); insert. The lock must be its own
    statement: a statement that waits for a row lock still reads the other tables as they
    were when it started, so it would miss the reservation of the upload it waited for.
    """
    user_model = get_user_model()
    now = timezone.now()
    # No savepoint inside a caller's transaction: nothing in the block raises on purpose (a
    # refusal is raised after it), so there is nothing to roll back to.
    with transaction.atomic(savepoint=False):
        locked = user_model.objects.select_for_update().get(pk=user.pk)
        live = []
        if link is None or locked.quota_bytes > 0:
            live = list(
                UploadReservation.objects.live(now)
                .filter(owner=locked)
                .values_list("size", "link_id")
            )
        refusal = None
        if link is None:
            refusal = _open_uploads_refusal(
                open_uploads=sum(1 for _size, link_id in live if link_id is None)
            )
        if refusal is None:
            # Added up in Python: see reserved_bytes.
            reserved = sum(reserved_size for reserved_size, _link_id in live)
            refusal = _quota_refusal(locked_user=locked, size=size, reserved=reserved)
        if refusal is None:
            return UploadReservation.objects.create(
                owner=locked,
                link=link,
                name=name[:255],
                size=size,
                created_at=now,
                expires_at=expires_at or _lease_end(now),
            )
    raise refusal


def upload_reservation_renew(
    *, reservation: UploadReservation, expires_at: datetime | None = None
) -> None:
    """Extend the lease of an upload whose bytes are still arriving (one UPDATE).

    A lease that lapsed meanwhile stopped counting, so its bytes may have been promised to
    another upload: it is taken again only if they still fit (else QuotaExceeded). A
    reservation that is gone (cancelled, revoked link, reclaimed) raises UploadCancelled.
    """
    now = timezone.now()
    until = expires_at or _lease_end(now)
    if UploadReservation.objects.live(now).filter(pk=reservation.pk).update(expires_at=until):
        reservation.expires_at = until
        return
    with transaction.atomic():
        locked = get_user_model().objects.select_for_update().get(pk=reservation.owner_id)
        row = UploadReservation.objects.select_for_update().filter(pk=reservation.pk).first()
        if row is None:
            raise UploadCancelled()
        if row.link_id is not None:
            link = row.link
            if link.revoked_at is not None or (link.expires_at and link.expires_at <= now):
                raise UploadCancelled(_("This upload link no longer accepts uploads."))
        _quota_check(locked_user=locked, size=row.size, now=now, exclude_pk=row.pk)
        UploadReservation.objects.filter(pk=row.pk).update(expires_at=until)
    reservation.expires_at = until


def upload_reservation_name(*, reservation: UploadReservation, name: str) -> bool:
    """Say which file the upload is receiving now (shown to the owner) and renew its lease;
    False when the lease was not live (then renew it with upload_reservation_renew)."""
    now = timezone.now()
    return bool(
        UploadReservation.objects.live(now)
        .filter(pk=reservation.pk)
        .update(name=name[:255], expires_at=_lease_end(now))
    )


# A tus upload that holds the reservation loses it (its `on_delete=SET_NULL`) in the same
# statement that deletes it: one round trip on PostgreSQL, where Django's delete() took five
# (collect, begin, set null, delete, commit).
_RELEASE_SQL = """
WITH detached AS (UPDATE files_tusupload SET reservation_id = NULL WHERE reservation_id = %s)
DELETE FROM files_uploadreservation WHERE id = %s
"""


def upload_reservation_release(*, reservation: UploadReservation) -> bool:
    """Give back what an upload had reserved (nothing when it is already gone); True when it
    was there to give back."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_RELEASE_SQL, [reservation.pk, reservation.pk])
            return cursor.rowcount > 0
    return UploadReservation.objects.filter(pk=reservation.pk).delete()[0] > 0


def tus_upload_terminate(*, pk: int, condition: Q | None = None, probe: bool | None = None) -> bool:
    """End an upload: its reservation at once, then its partial bytes and blob. Wins over a
    PATCH in progress (which stops at its next lease renewal and keeps nothing); `condition`
    narrows which rows may be ended (the cleanup spares uploads being written). A completed
    upload only loses its record (the file stays). False when there was nothing to end.

    An unfinished upload through a link that ends here is a probe of the owner's quota
    (files.link_uploads.link_upload_probed) when it had received no byte (its holder's DELETE,
    an expiry), or whatever it had received with `probe=True` (a creation that kept nothing);
    never with `probe=False` (the owner cancelled it, the link was revoked)."""
    with transaction.atomic():
        rows = TusUpload.objects.select_for_update(of=("self",)).filter(pk=pk)
        if condition is not None:
            rows = rows.filter(condition)
        upload = rows.first()
        if upload is None:
            return False
        unfinished_blob_id = upload.blob_id if upload.completed_at is None else None
        storage = upload.storage_state
        if upload.reservation_id is not None:
            UploadReservation.objects.filter(pk=upload.reservation_id).delete()
        TusUpload.objects.filter(pk=upload.pk).delete()
    if upload.completed_at is None and (probe or (probe is None and upload.offset == 0)):
        link_upload_probed(link_id=upload.link_id)
    blob = Blob.objects.filter(pk=unfinished_blob_id).first() if unfinished_blob_id else None
    if blob is not None:
        resumable_discard(blob=blob, storage=storage)
    return True


def upload_cancel(*, reservation: UploadReservation) -> bool:
    """Cancel one upload in progress (its owner's choice): a tus upload is terminated, its
    bytes deleted even during a PATCH; a form upload loses its reservation at once and stops
    at its next lease renewal, keeping nothing. False when it had already ended."""
    tus_pk = TusUpload.objects.filter(reservation=reservation).values_list("pk", flat=True).first()
    if tus_pk is not None:
        return tus_upload_terminate(pk=tus_pk, probe=False)
    return bool(UploadReservation.objects.filter(pk=reservation.pk).delete()[0])


def upload_reservations_delete_expired(*, now: datetime | None = None) -> int:
    """Delete the reservations that no longer count (lapsed lease, dead upload link)."""
    now = now or timezone.now()
    live = UploadReservation.objects.live(now).values("pk")
    deleted, _ = UploadReservation.objects.exclude(pk__in=live).delete()
    return deleted


# --- trash ------------------------------------------------------------------------------------


def file_trash(*, file: File) -> File:
    now = timezone.now()
    if File.objects.filter(pk=file.pk, deleted_at__isnull=True).update(
        deleted_at=now, trash_root=None, trashed_as_root=True
    ):
        audit(A.FILE_DELETED, target=file)
    file.deleted_at, file.trash_root, file.trashed_as_root = now, None, True
    return file


def folder_trash(*, folder: Folder) -> Folder:
    """Move `folder` and everything alive below it to the trash, as one trash item."""
    if folder.parent_id is None:
        raise InvalidMove(_("The root folder cannot be deleted."))
    now = timezone.now()
    with transaction.atomic():
        # No folder can be moved into the subtree between finding it and trashing it.
        _lock_tree(folder.owner_id)
        below = folder_descendant_ids(folder, alive_only=True)
        Folder.objects.filter(pk=folder.pk, deleted_at__isnull=True).update(
            deleted_at=now, trash_root=folder, trashed_as_root=True
        )
        Folder.objects.filter(pk__in=below).update(
            deleted_at=now, trash_root=folder, trashed_as_root=False
        )
        File.objects.alive().filter(folder_id__in=[folder.pk, *below]).update(
            deleted_at=now, trash_root=folder, trashed_as_root=False
        )
        audit(A.FILE_DELETED, target=folder)
    folder.deleted_at, folder.trash_root, folder.trashed_as_root = now, folder, True
    return folder


def _restore_target(
    parent_id: int, user, *, levels: int = 0, within: Folder | None = None
) -> Folder:
    """Where a trashed item goes back: its old folder while that and every folder above it is
    alive and, when `levels` of folders come back (0 for a file), the deepest of them stays
    within LOCKER_MAX_FOLDER_DEPTH there; else the root (`within`, when given: the folder a
    token is confined to, which nothing it restores may leave). One query, whatever the
    depth."""
    chain = folder_ancestors(folder_id=parent_id)
    alive = bool(chain) and chain[0].parent_id is None and all(f.deleted_at is None for f in chain)
    inside = within is None or any(f.pk == within.pk for f in chain)
    if alive and inside and len(chain) - 1 + levels <= settings.LOCKER_MAX_FOLDER_DEPTH:
        return chain[-1]
    return within or folder_get_root(user)


def trash_restore(*, item: File | Folder, within: Folder | None = None) -> File | Folder:
    """Put a trashed item back where it was (or in the root when that folder is gone too, or
    when a folder would come back deeper than LOCKER_MAX_FOLDER_DEPTH there), renamed
    "name (1)" if its name has been taken meanwhile. With `within` (a confined token's
    folder), it never lands outside that folder: its top stands for the root."""
    with transaction.atomic():
        _lock_tree(item.owner_id)
        if isinstance(item, File):
            target = _restore_target(item.folder_id, item.owner, within=within)
            _lock_folder(target)
            item.name = unique_name(_taken_keys(target), item.name)
            item.name_key = name_key(item.name)
            item.folder = target
            item.deleted_at, item.trash_root, item.trashed_as_root = None, None, False
            _save_or_conflict(item, item.name)
            audit(A.FILE_RESTORED, target=item)
            return item
        cap = settings.LOCKER_MAX_FOLDER_DEPTH
        levels = 1 + folder_subtree_height(folder=item, limit=cap)
        target = _restore_target(item.parent_id, item.owner, levels=levels, within=within)
        if (target.parent_id is None or target == within) and levels > cap:
            # Even the top level is too deep (the cap was lowered since it was trashed).
            raise _too_deep(levels)
        _lock_folder(target)
        item.name = unique_name(_taken_keys(target), item.name)
        item.name_key = name_key(item.name)
        item.parent = target
        item.deleted_at, item.trash_root, item.trashed_as_root = None, None, False
        _save_or_conflict(item, item.name)
        Folder.objects.filter(trash_root=item).exclude(pk=item.pk).update(
            deleted_at=None, trash_root=None, trashed_as_root=False
        )
        File.objects.filter(trash_root=item).update(
            deleted_at=None, trash_root=None, trashed_as_root=False
        )
        audit(A.FILE_RESTORED, target=item)
        return item


def _expired_trash(model, cutoff: datetime):
    """Trash items (the tops of deletions) deleted before `cutoff`, oldest first, through the
    partial index of trashed tops (files_file_trash_expiry / files_folder_trash_expiry)."""
    return model.objects.filter(
        trashed_as_root=True, deleted_at__isnull=False, deleted_at__lt=cutoff
    ).order_by("deleted_at", "pk")


def _purge_file_rows(files: list[File]) -> None:
    """Delete `files` (rows the caller's transaction has locked) with their thumbnails and their
    blob rows, and give their bytes back to their owners, in a fixed number of queries; their
    stored objects are deleted once the transaction commits. A kill before the commit rolls all
    of it back; a kill after it leaves only objects without rows, which the orphan cleanup's
    listing pass removes."""
    file_ids = [file.pk for file in files]
    blob_ids = [file.blob_id for file in files]
    thumbnails = Thumbnail.objects.filter(file_id__in=file_ids)
    blob_ids += list(thumbnails.values_list("blob_id", flat=True))
    keys = list(Blob.objects.filter(pk__in=blob_ids).values_list("storage_key", flat=True))
    File.objects.filter(pk__in=file_ids).delete()  # thumbnails and share links go with them
    Blob.objects.filter(pk__in=blob_ids).delete()
    freed: dict[int, int] = {}
    for file in files:
        freed[file.owner_id] = freed.get(file.owner_id, 0) + file.size
    get_user_model().objects.filter(pk__in=freed).update(
        used_bytes=F("used_bytes")
        - Case(
            *[When(pk=owner_id, then=Value(size)) for owner_id, size in freed.items()],
            default=Value(0),
            output_field=BigIntegerField(),
        )
    )

    def delete_objects() -> None:
        from storage.backends import get_blobstore

        try:
            get_blobstore().delete_many(keys)
        except Exception:  # noqa: BLE001 - their rows are gone: the orphan cleanup removes them
            logger.exception("Could not delete the objects of %d purged blobs", len(keys))

    transaction.on_commit(delete_objects)


def file_purge(*, file: File) -> bool:
    """Delete one file for good at once, in the trash or not: its rows, its thumbnails, its
    stored objects and the quota it held, as the trash purge does (manage.py doctor removes its
    test uploads this way). False when it was already gone."""
    with transaction.atomic():
        files = list(File.objects.filter(pk=file.pk).select_for_update())
        if not files:
            return False
        _purge_file_rows(files)
        audit_many(A.FILE_PURGED, targets=files)
    return True


def _purge_trash_batch(tops: Callable[[type], QuerySet], size: int) -> tuple[int, bool]:
    """Purge one batch of trash in one transaction: up to `size` trashed files among the tops
    of deletions (`tops(File)`), else up to `size` files inside the first trashed folder
    (`tops(Folder)`), else that folder's rows once it is empty. Rows are claimed with
    `FOR UPDATE SKIP LOCKED` (PostgreSQL), so two runs at once take different batches; SQLite's
    IMMEDIATE transactions run them one after the other. Whatever is not purged yet stays in
    the trash as it was. Returns (files purged, whether to go on)."""
    with transaction.atomic():
        files = list(tops(File).select_for_update(skip_locked=True)[:size])
        if files:
            _purge_file_rows(files)
            audit_many(A.FILE_PURGED, targets=files)
            return len(files), True
    with transaction.atomic():
        folder = tops(Folder).select_for_update(skip_locked=True).first()
        if folder is None:
            return 0, False
        # What this deletion put in the trash; items deleted on their own before it, inside
        # its tree, are other trash items (their own `trash_root`) and are not purged here.
        below = folder_descendant_ids(folder)
        theirs = set(
            Folder.objects.filter(pk__in=below, trash_root=folder).values_list("pk", flat=True)
        )
        own = [folder.pk, *(pk for pk in below if pk in theirs)]
        inside = File.objects.filter(folder_id__in=own, trash_root=folder)
        files = list(inside.select_for_update(skip_locked=True).order_by("pk")[:size])
        if files:
            _purge_file_rows(files)
            return len(files), True
        if inside.exists():  # held by a request (a restore): the next run tries again
            return 0, False
        # The other trash items inside go where a restore would send them, their folder being
        # gone: the owner's root. Then the folders, children first (no dangling parent).
        root = folder_get_root(folder.owner)
        File.objects.filter(folder_id__in=own).update(folder=root)
        Folder.objects.filter(parent_id__in=own).exclude(pk__in=own).update(parent=root)
        Folder.objects.filter(pk__in=list(reversed(own))).delete()
        audit_many(A.FILE_PURGED, targets=[folder])
        return 0, True


def trash_purge_expired(*, now: datetime | None = None, run: JobRun | None = None) -> int:
    """Delete what has been in any trash longer than LOCKER_TRASH_DAYS (the periodic task), in
    batches of LOCKER_JOB_BATCH_SIZE files, each in its own transaction, until none is left or
    LOCKER_JOB_TIME_BUDGET has passed (the next run goes on). Returns the files purged."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.LOCKER_TRASH_DAYS)
    expired = partial(_expired_trash, cutoff=cutoff)
    return sum(repeat_batches(run or JobRun(), partial(_purge_trash_batch, expired)))


def _user_trash(model, *, user):
    """The tops of the user's deletions, oldest first (File: the (owner, deleted_at) index)."""
    trashed = model.objects.filter(owner=user, trashed_as_root=True, deleted_at__isnull=False)
    return trashed.order_by("deleted_at", "pk")


@dataclass(frozen=True)
class TrashEmptied:
    deleted_files: int
    # Whether the rest is being emptied in the background (the run's time was up).
    continues: bool


def trash_empty(*, user, run: JobRun | None = None) -> TrashEmptied:
    """Delete for good everything in the user's trash, in batches of LOCKER_JOB_BATCH_SIZE
    files, each in its own transaction (rows, blobs and the quota they held), as the trash
    purge does. Within a request the run lasts LOCKER_TRASH_EMPTY_REQUEST_BUDGET; what is left
    then goes on in the task files.tasks.empty_trash, which calls this again with the job time
    budget (and queues itself again if that is not enough either). Interrupted anywhere, what
    is left is still in the trash and counted in the quota; two runs at once purge each file
    once."""
    run = run or JobRun(budget=settings.LOCKER_TRASH_EMPTY_REQUEST_BUDGET)
    trash = partial(_user_trash, user=user)
    deleted = sum(repeat_batches(run, partial(_purge_trash_batch, trash)))
    if run.out_of_time:
        # Unqueued (the broker down), the request fails with the broker's 503; what it emptied
        # is gone and the rest is still in the trash, for the next try.
        task_queue("files.tasks.empty_trash", (user.pk,))
    return TrashEmptied(deleted_files=deleted, continues=run.out_of_time)


def _one_trash_item(model, *, item: File | Folder):
    """The one trash item `item` as the tops of a purge (nothing of the other kind)."""
    if not isinstance(item, model):
        return model.objects.none()
    return model.objects.filter(pk=item.pk, trashed_as_root=True, deleted_at__isnull=False)


def trash_item_delete(*, item: File | Folder, run: JobRun | None = None) -> TrashEmptied:
    """Delete one trash item for good (a file, or a folder with everything deleted with it), as
    emptying the trash does for all of them: in batches, each in its own transaction, freeing
    the quota. A folder too big for LOCKER_TRASH_EMPTY_REQUEST_BUDGET goes on in the task
    files.tasks.delete_trash_item (still listed in the trash until it is gone)."""
    run = run or JobRun(budget=settings.LOCKER_TRASH_EMPTY_REQUEST_BUDGET)
    tops = partial(_one_trash_item, item=item)
    deleted = sum(repeat_batches(run, partial(_purge_trash_batch, tops)))
    if run.out_of_time:
        kind = "folder" if isinstance(item, Folder) else "file"
        task_queue("files.tasks.delete_trash_item", (kind, item.pk))
    return TrashEmptied(deleted_files=deleted, continues=run.out_of_time)
