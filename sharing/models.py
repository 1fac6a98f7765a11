"""Share links (send a file or folder to anyone), upload links (collect files from anyone),
and the logs of what went through them.

Both kinds are a `Link`: a secret token, looked up by its SHA-256 (`token_hash`, like API
tokens) and kept only sealed under the master key (`token_sealed`, so that its owner can copy the
link again while a database dump alone holds no usable link; sharing.tokens), a label, an
expiry, a revocation time and an optional password. Whether a link still
works is decided at request time by `sharing.access`; nothing here is trusted to have been
cleaned up by a job.
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Link(models.Model):
    """What both kinds of link share. Each kind declares its own `owner` (its reverse name) and
    `notify` (its default), and names itself for the unlock cookie and the throttles (`kind`)
    and in its public URLs (`url_prefix`: /s/<token>, /r/<token>)."""

    kind: str
    url_prefix: str

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    token_hash = models.CharField(max_length=64, unique=True)
    # The token sealed under the master key `token_key_id` (AES-256-GCM, the link's public id as
    # associated data; docs/encryption.md). Empty for links made before it was kept: those were
    # shown once only.
    token_sealed = models.BinaryField(null=True, blank=True, editable=False)
    token_key_id = models.CharField(max_length=32, blank=True, default="", editable=False)
    label = models.CharField(_("label"), max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True, db_index=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    password_hash = models.CharField(max_length=255, blank=True)

    class Meta:
        abstract = True
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.label or str(self.public_id)

    @property
    def has_password(self) -> bool:
        return bool(self.password_hash)

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()


class ShareLinkQuerySet(models.QuerySet):
    def live(self):
        """Links that can still serve content (ignoring the target's trash state)."""
        now = timezone.now()
        return (
            self.filter(revoked_at__isnull=True)
            .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
            .filter(Q(max_downloads__isnull=True) | Q(download_count__lt=F("max_downloads")))
        )


class ShareLink(Link):
    kind = "share"
    url_prefix = "s"

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="share_links"
    )
    file = models.ForeignKey(
        "files.File", null=True, blank=True, on_delete=models.CASCADE, related_name="share_links"
    )
    folder = models.ForeignKey(
        "files.Folder",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="share_links",
    )
    max_downloads = models.PositiveIntegerField(_("maximum downloads"), null=True, blank=True)
    download_count = models.PositiveIntegerField(default=0)
    allow_download = models.BooleanField(_("allow download"), default=True)
    notify = models.BooleanField(_("notify me on download"), default=False)
    # Quick send: the files were uploaded only to be sent; they go to the trash when the link
    # dies, unless the owner chose to keep them.
    is_send = models.BooleanField(default=False)
    keep_files = models.BooleanField(default=True)
    # Set once by the cleanup when it has handled a dead link (its quick-send files trashed).
    # Not indexed on its own: the unhandled links are mostly the live ones; the cleanup finds
    # the dead ones through the partial indexes below.
    cleaned_at = models.DateTimeField(null=True, blank=True)
    # With `notify`: when the e-mail about the downloads not yet reported is due. The first
    # counted download after it queues the next e-mail; those before it wait for that one.
    notify_due_at = models.DateTimeField(null=True, blank=True)
    # A selection share: `folder` is the folder the items were picked in, and the link shows
    # only the items of `items` (ShareLinkItem) among what is directly in it, each with what is
    # below it. Nothing moves: an item moved out of that folder leaves the share.
    is_selection = models.BooleanField(default=False)

    objects = ShareLinkQuerySet.as_manager()

    class Meta(Link.Meta):
        constraints = [
            models.CheckConstraint(
                condition=(Q(file__isnull=False) & Q(folder__isnull=True))
                | (Q(file__isnull=True) & Q(folder__isnull=False)),
                name="sharing_sharelink_file_xor_folder",
            ),
            models.CheckConstraint(
                condition=Q(max_downloads__isnull=True) | Q(max_downloads__gte=1),
                name="sharing_sharelink_max_downloads_positive",
            ),
        ]
        # The share cleanup's work lists: links dead and not handled yet, one partial index per
        # way to die, so finding them never reads the live links (sharing.services).
        indexes = [
            models.Index(
                fields=["expires_at"],
                condition=Q(cleaned_at__isnull=True, expires_at__isnull=False),
                name="sharing_link_expiry_unhandled",
            ),
            models.Index(
                fields=["id"],
                condition=Q(cleaned_at__isnull=True, revoked_at__isnull=False),
                name="sharing_link_revoked_unhandled",
            ),
            models.Index(
                fields=["id"],
                condition=Q(
                    cleaned_at__isnull=True,
                    max_downloads__isnull=False,
                    download_count__gte=F("max_downloads"),
                ),
                name="sharing_link_used_up_unhandled",
            ),
            # The owner's list, newest first: a page is an index range, not every link of the
            # owner joined to its target and sorted (50 ms for a page of 50 out of 1,000 links).
            models.Index(fields=["owner", "created_at", "id"], name="sharing_share_owner_list"),
        ]

    @property
    def target(self):
        return self.file if self.file_id else self.folder

    @property
    def selection_name(self) -> str:
        """How the owner's pages name a selection share: where its items were picked."""
        where = self.folder.name if self.folder.parent_id else _("My files")
        return _("Selection in “%(folder)s”") % {"folder": where}

    @property
    def is_exhausted(self) -> bool:
        return self.max_downloads is not None and self.download_count >= self.max_downloads


class ShareLinkItem(models.Model):
    """One file or folder of a selection share (`ShareLink.is_selection`)."""

    share = models.ForeignKey(ShareLink, on_delete=models.CASCADE, related_name="items")
    file = models.ForeignKey(
        "files.File", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    folder = models.ForeignKey(
        "files.Folder", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(Q(file__isnull=False) & Q(folder__isnull=True))
                | (Q(file__isnull=True) & Q(folder__isnull=False)),
                name="sharing_sharelinkitem_file_xor_folder",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.share_id}: {self.file_id or self.folder_id}"


class ShareAccess(models.Model):
    """One download through a share link (a file, or a folder's ZIP).

    A counted file download is one row however many times it is resumed: its resumes add their
    bytes to `bytes_sent` and count in `resumes`, and its resume credential may deliver at most
    `sharing.access.resume_budget` bytes in all.
    """

    share = models.ForeignKey(ShareLink, on_delete=models.CASCADE, related_name="accesses")
    at = models.DateTimeField(default=timezone.now, db_index=True)
    file = models.ForeignKey(
        "files.File", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    name = models.CharField(max_length=255, blank=True, help_text=_("What was downloaded."))
    is_zip = models.BooleanField(default=False)
    counted = models.BooleanField(
        default=False, help_text=_("Whether this request counted against the download limit.")
    )
    range_start = models.BigIntegerField(default=0)
    completed = models.BooleanField(default=False)
    # Bytes sent for this download, its resumes included (while a request streams, it also holds
    # the part of the budget that request has taken and not sent yet).
    bytes_sent = models.BigIntegerField(default=0)
    resumes = models.PositiveIntegerField(
        default=0, help_text=_("Range requests that continued this download without counting.")
    )
    # A counted download of a link with `notify` that no e-mail has reported yet.
    notify_pending = models.BooleanField(default=False, db_index=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=255, blank=True)
    # SHA-256 of the resume credential handed to the client of a counted file download (a
    # cookie): only a Range request carrying it may continue this download without counting.
    resume_hash = models.CharField(max_length=64, null=True, blank=True, unique=True)

    class Meta:
        ordering = ["-at"]
        indexes = [models.Index(fields=["share", "at"])]

    def __str__(self) -> str:
        return f"{self.share_id} @ {self.at:%Y-%m-%d %H:%M}"


class UploadLink(Link):
    """A file request: anyone with the link may upload into one folder, and see nothing of it."""

    kind = "upload"
    url_prefix = "r"

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="upload_links"
    )
    folder = models.ForeignKey(
        "files.Folder", on_delete=models.CASCADE, related_name="upload_links"
    )
    message = models.TextField(_("message to uploaders"), max_length=2000, blank=True)
    max_files = models.PositiveIntegerField(_("maximum files"), null=True, blank=True)
    max_file_size = models.BigIntegerField(_("maximum size per file"), null=True, blank=True)
    files_count = models.PositiveIntegerField(default=0)
    notify = models.BooleanField(_("notify me of uploads"), default=True)

    class Meta(Link.Meta):
        # The owner's list, newest first, read as an index range (like share links').
        indexes = [
            models.Index(fields=["owner", "created_at", "id"], name="sharing_upload_owner_list")
        ]

    @property
    def is_full(self) -> bool:
        return self.max_files is not None and self.files_count >= self.max_files

    @property
    def is_usable(self) -> bool:
        """Still takes uploads: not revoked, expired or full (what the owner's list shows)."""
        return not (self.is_revoked or self.is_expired or self.is_full)


class UploadLinkUpload(models.Model):
    """One file received through an upload link; `notified_at` drives the batched e-mail."""

    link = models.ForeignKey(UploadLink, on_delete=models.CASCADE, related_name="uploads")
    file = models.ForeignKey(
        "files.File", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    name = models.CharField(max_length=255)
    size = models.BigIntegerField()
    at = models.DateTimeField(default=timezone.now)
    ip = models.GenericIPAddressField(null=True, blank=True)
    notified_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["-at"]

    def __str__(self) -> str:
        return self.name
