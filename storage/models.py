"""The one model of the storage engine: a Blob, an encrypted object and its wrapped key."""

from django.db import models
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Blob(models.Model):
    """One encrypted object in content storage.

    The storage key is random; the data key that encrypts the content is stored here wrapped
    by a master key (see docs/encryption.md), so key rotation rewrites rows, not objects.

    Other apps point at blobs (a file's content, a thumbnail, a tus upload in progress); the
    engine finds those references through `Blob._meta.related_objects` and never imports them.
    """

    class State(models.TextChoices):
        WRITING = "writing", _("being written")
        COMPLETE = "complete", _("complete")

    storage_key = models.CharField(max_length=80, unique=True)
    master_key_id = models.CharField(max_length=32, db_index=True)
    wrapped_key = models.BinaryField()
    segment_size = models.PositiveIntegerField()
    size = models.BigIntegerField(default=0, help_text=_("Plaintext size in bytes."))
    state = models.CharField(max_length=16, choices=State.choices, default=State.WRITING)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    # When the last byte was stored. A complete blob waits for a row that uses it (the rest of
    # a multi-file upload may still be arriving); one that nobody references for longer than
    # LOCKER_ORPHAN_GRACE_HOURS after this is reclaimed (storage/cleanup.py).
    completed_at = models.DateTimeField(null=True, blank=True)
    # Who is writing this blob, as the writer names it (an upload's reservation): an id the
    # engine never interprets. While the holder is live the abandoned-blob cleanup keeps the
    # blob; the caller of that cleanup says which holders are live (storage/cleanup.py). A plain
    # column, not a foreign key, so that the engine's model points at no other app's; the
    # column keeps the name it had as a foreign key.
    holder = models.BigIntegerField(
        null=True, blank=True, db_index=True, db_column="reservation_id"
    )

    class Meta:
        # The table the files app created, kept as it is (storage/migrations/0001_initial.py).
        db_table = "files_blob"
        indexes = [
            # Only blobs still being written (few, whatever the number of files): the
            # abandoned-blob cleanup's work list (storage/cleanup.py).
            models.Index(fields=["id"], condition=Q(state="writing"), name="storage_blob_writing"),
        ]

    def __str__(self) -> str:
        return self.storage_key

    @classmethod
    def references(cls, *, protecting_only: bool = False) -> list[tuple[str, Exists]]:
        """(model label, Exists of its rows pointing at the outer blob) for each relation other
        models declare to Blob; with `protecting_only`, only those that forbid deleting the blob
        (on_delete=PROTECT: a file's content, a thumbnail), not those deleted with it (a tus
        upload). A relation added later is covered without an edit here."""
        return [
            (
                relation.related_model._meta.label,
                Exists(
                    relation.related_model._base_manager.filter(
                        **{relation.field.name: OuterRef("pk")}
                    )
                ),
            )
            for relation in cls._meta.related_objects
            if not protecting_only or relation.on_delete is models.PROTECT
        ]
