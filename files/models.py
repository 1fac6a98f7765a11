"""The locker: the folders and files that users see, and their uploads in progress.

Their content is stored encrypted as blobs of the storage app (storage.models.Blob)."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from storage.models import Blob


class TrashableQuerySet(models.QuerySet):
    def alive(self):
        return self.filter(deleted_at__isnull=True)

    def trashed(self):
        return self.filter(deleted_at__isnull=False)


class Folder(models.Model):
    """A folder. Each user has one root folder (parent is null) that the UI does not name."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="folders"
    )
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="children"
    )
    name = models.CharField(max_length=255)
    name_key = models.CharField(max_length=255, help_text=_("Case-folded name, for uniqueness."))
    created_at = models.DateTimeField(default=timezone.now)
    modified_at = models.DateTimeField(default=timezone.now)
    deleted_at = models.DateTimeField(null=True, blank=True, db_index=True)
    trash_root = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text=_("The folder whose deletion put this one in the trash."),
    )
    # The bin the item was deleted from as the top of a deletion (not its descendants).
    trashed_as_root = models.BooleanField(default=False)

    objects = TrashableQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["parent", "name_key"],
                condition=Q(deleted_at__isnull=True),
                name="files_folder_unique_live_name",
            ),
            models.UniqueConstraint(
                fields=["owner"], condition=Q(parent__isnull=True), name="files_one_root_per_user"
            ),
        ]
        indexes = [
            # A user's live folders by name: a search for a word most of them hold walks it in
            # order and stops at the page's end (docs/architecture.md, "Name search").
            models.Index(
                fields=["owner", "name_key", "name", "id"],
                condition=Q(deleted_at__isnull=True),
                name="files_folder_live_by_owner",
            ),
            # Only the tops of deletions in the trash, by age: the trash purge's work list.
            models.Index(
                fields=["deleted_at", "id"],
                condition=Q(trashed_as_root=True, deleted_at__isnull=False),
                name="files_folder_trash_expiry",
            ),
            # A folder's live subfolders in listing order: its first page is an index range.
            models.Index(
                fields=["parent", "name_key", "name", "id"],
                condition=Q(deleted_at__isnull=True),
                name="files_folder_live_listing",
            ),
            # The trash list's folders in its order (`selectors.TRASH_ORDERING`): a keyset page
            # is a range of the user's own trashed folders.
            models.Index(
                fields=["owner", "deleted_at", "public_id"],
                condition=Q(trashed_as_root=True, deleted_at__isnull=False),
                name="files_folder_trash_listing",
            ),
        ]

    def __str__(self) -> str:
        return self.name or "/"

    @property
    def is_root(self) -> bool:
        return self.parent_id is None


class File(models.Model):
    class State(models.TextChoices):
        PENDING = "pending", _("pending")
        READY = "ready", _("ready")
        INFECTED = "infected", _("infected")
        ERROR = "error", _("error")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # No index of its own: `(owner, deleted_at)` below starts with it and serves every lookup by
    # owner. Alone, it looked cheaper to the planner than the search btree for counting a big
    # user's matches, and read every one of them from the table (files.0013).
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="files", db_index=False
    )
    folder = models.ForeignKey(Folder, on_delete=models.CASCADE, related_name="files")
    name = models.CharField(max_length=255)
    name_key = models.CharField(max_length=255)
    blob = models.OneToOneField(Blob, on_delete=models.PROTECT, related_name="file")
    size = models.BigIntegerField()
    content_type = models.CharField(max_length=127)
    sha256 = models.CharField(max_length=64)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    state_reason = models.CharField(max_length=255, blank=True)
    # Thumbnails: "" not made yet, "ready", "none" (no thumbnail for this kind), "error".
    thumbnail_state = models.CharField(max_length=16, blank=True, default="")
    thumbnail_reason = models.CharField(max_length=255, blank=True)
    # Set while a processing task is owed (queued, running or waiting to retry): when a worker
    # should have taken the file up by. Moved on when a retry is scheduled, cleared when
    # processing is done. A file overdue by LOCKER_REQUEUE_PENDING_AFTER lost its task and is
    # queued again (files.tasks.requeue_pending), through the partial index below.
    processing_due_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    modified_at = models.DateTimeField(default=timezone.now)
    deleted_at = models.DateTimeField(null=True, blank=True, db_index=True)
    trash_root = models.ForeignKey(
        Folder,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text=_("The folder whose deletion put this file in the trash, if any."),
    )
    trashed_as_root = models.BooleanField(default=False)

    objects = TrashableQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["folder", "name_key"],
                condition=Q(deleted_at__isnull=True),
                name="files_file_unique_live_name",
            ),
        ]
        indexes = [
            # A user's live files by name: a search for a word most of them hold walks it in
            # order and stops at the page's end (docs/architecture.md, "Name search").
            models.Index(
                fields=["owner", "name_key", "name", "id"],
                condition=Q(deleted_at__isnull=True),
                name="files_file_live_by_owner",
            ),
            models.Index(fields=["owner", "deleted_at"]),
            # A folder's live files in listing order (`selectors.FILE_ORDERINGS["name"]`): the
            # first page of a folder is an index range with a LIMIT, however many files it holds.
            models.Index(
                fields=["folder", "name_key", "name", "id"],
                condition=Q(deleted_at__isnull=True),
                name="files_file_live_listing",
            ),
            # The other orderings of a folder (`selectors.FILE_ORDERINGS`): any keyset page, in
            # either direction, is an index range (`-size` reads the range backwards and sorts
            # each run of equal sizes by name, PostgreSQL's incremental sort).
            models.Index(
                fields=["folder", "size", "name_key", "id"],
                condition=Q(deleted_at__isnull=True),
                name="files_file_live_by_size",
            ),
            models.Index(
                fields=["folder", "modified_at", "id"],
                condition=Q(deleted_at__isnull=True),
                name="files_file_live_by_modified",
            ),
            models.Index(
                fields=["folder", "created_at", "id"],
                condition=Q(deleted_at__isnull=True),
                name="files_file_live_by_created",
            ),
            # Only files with processing still owed: small, whatever the number of files.
            models.Index(
                fields=["processing_due_at"],
                condition=Q(processing_due_at__isnull=False),
                name="files_file_processing_due",
            ),
            # Only the tops of deletions in the trash, by age: the trash purge's work list.
            models.Index(
                fields=["deleted_at", "id"],
                condition=Q(trashed_as_root=True, deleted_at__isnull=False),
                name="files_file_trash_expiry",
            ),
            # The trash list's files in its order, like `files_folder_trash_listing`.
            models.Index(
                fields=["owner", "deleted_at", "public_id"],
                condition=Q(trashed_as_root=True, deleted_at__isnull=False),
                name="files_file_trash_listing",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class UploadReservationQuerySet(models.QuerySet):
    def live(self, now=None):
        """Reservations that count against their owner's quota now: the lease has not lapsed,
        and the upload link they came through (if any) is neither revoked nor expired. Nothing
        has to clean up for a lapsed one to stop counting."""
        now = now or timezone.now()
        return self.filter(expires_at__gt=now).filter(
            Q(link__isnull=True)
            | Q(link__revoked_at__isnull=True)
            & (Q(link__expires_at__isnull=True) | Q(link__expires_at__gt=now))
        )


class UploadReservation(models.Model):
    """Bytes promised to an upload in progress, counted against the quota while its lease lives.

    The lease (`expires_at`) belongs to a live request: a form upload renews it while its bytes
    arrive (every LOCKER_UPLOAD_LEASE / 4 at most), so a request that crashed stops counting
    within LOCKER_UPLOAD_LEASE; a tus upload's lease is the tus upload's own expiry, renewed by
    each PATCH (docs/files.md, docs/tus.md).
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    link = models.ForeignKey(
        "sharing.UploadLink", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    name = models.CharField(
        max_length=255, blank=True, help_text=_("The file being received, when known.")
    )
    size = models.BigIntegerField()
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(db_index=True, help_text=_("The lease: counted until then."))

    objects = UploadReservationQuerySet.as_manager()

    def __str__(self) -> str:
        return f"{self.size} bytes until {self.expires_at:%Y-%m-%d %H:%M:%S}"


class TusUpload(models.Model):
    """A resumable (tus 1.0) upload in progress; becomes a File when its last byte arrives.

    The bytes received so far are in `blob` (state WRITING): every complete 256 KiB segment is
    encrypted into storage at once, the trailing incomplete segment is kept sealed in `tail`
    (see files/tus.py and docs/tus.md). Nothing here lives in process memory between requests.
    """

    upload_id = models.CharField(max_length=64, unique=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    link = models.ForeignKey(
        "sharing.UploadLink", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    folder = models.ForeignKey(Folder, on_delete=models.CASCADE, related_name="+")
    filename = models.CharField(max_length=255)
    filetype = models.CharField(max_length=127, blank=True)
    length = models.BigIntegerField()
    offset = models.BigIntegerField(default=0)
    # Deleting the WRITING blob (cleanup of abandoned blobs) ends the upload too.
    blob = models.OneToOneField(
        Blob, null=True, blank=True, on_delete=models.CASCADE, related_name="tus_upload"
    )
    header = models.BinaryField(default=b"", help_text=_("The stored object's 16-byte header."))
    tail = models.BinaryField(default=b"", help_text=_("Sealed trailing incomplete segment."))
    storage_state = models.JSONField(default=dict, blank=True)
    reservation = models.OneToOneField(
        UploadReservation,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="tus_upload",
    )
    # The write lease of the PATCH in progress: renewed while its bytes arrive, so a holder that
    # died frees it within LOCKER_TUS_LOCK_LEASE seconds.
    lock_token = models.CharField(max_length=32, blank=True)
    locked_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # When bytes last arrived; the expiry is renewed from it (docs/tus.md).
    active_at = models.DateTimeField(default=timezone.now, db_index=True)
    expires_at = models.DateTimeField(db_index=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    file = models.ForeignKey(
        File, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self) -> str:
        return f"{self.filename} ({self.offset}/{self.length})"


class Thumbnail(models.Model):
    """A preview image of a file, stored encrypted in its own blob like any content."""

    file = models.ForeignKey(File, on_delete=models.CASCADE, related_name="thumbnails")
    size = models.PositiveSmallIntegerField()
    blob = models.OneToOneField(Blob, on_delete=models.PROTECT, related_name="thumbnail")
    content_type = models.CharField(max_length=32)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["file", "size"], name="files_one_thumbnail_per_size")
        ]

    def __str__(self) -> str:
        return f"{self.file_id}@{self.size}"
