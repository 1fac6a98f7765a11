"""Blobs after they are written: taking complete ones into use, and deleting them.

"Use" is a row of another app pointing at the blob (a file's content, a thumbnail); the engine
finds such rows through the relations they declare to Blob (Blob.references), never by name.
"""

from __future__ import annotations

from django.db.models import ProtectedError
from django.utils.translation import gettext

from storage.backends import get_blobstore
from storage.exceptions import ContentGone
from storage.models import Blob


def blob_used_by(blob_pk: int, *, protecting_only: bool = False) -> list[str]:
    """Labels of the models with a row pointing at the blob, in one query (see
    Blob.references for `protecting_only`)."""
    references = Blob.references(protecting_only=protecting_only)
    if not references:
        return []
    aliases = {f"used_{index}": exists for index, (_label, exists) in enumerate(references)}
    flags = Blob.objects.filter(pk=blob_pk).annotate(**aliases).values_list(*aliases).first()
    if flags is None:  # no such blob: nothing can use it
        return []
    return [label for (label, _exists), used in zip(references, flags, strict=True) if used]


def delete_blob(blob: Blob) -> None:
    """Delete the stored object, then the row. Idempotent.

    Refuses (ProtectedError) while a row that protects the blob (a file, a thumbnail) still
    uses it, before touching its bytes.
    """
    if users := blob_used_by(blob.pk, protecting_only=True):
        raise ProtectedError(f"A {users[0]} row still uses this blob; delete it first.", {blob})
    store = get_blobstore()
    store.delete(blob.storage_key)
    if blob.state != Blob.State.COMPLETE:
        store.discard_unfinished(blob.storage_key)
    Blob.objects.filter(pk=blob.pk).delete()


def blobs_take_for_use(blob_ids) -> None:
    """Lock complete blobs that are getting the rows that use them now (a file, a thumbnail);
    call inside the transaction that creates the rows.

    The unreferenced-blob cleanup claims a blob by locking its row as well (skipping rows that
    are locked), so either this takes the blob first and the cleanup passes it by (and sees its
    new row next time), or the cleanup reclaimed it first and this raises ContentGone instead
    of creating a row that points at deleted bytes. On SQLite both run in IMMEDIATE
    transactions, one after the other, which gives the same order.
    """
    wanted = set(blob_ids)
    found = set(
        Blob.objects.select_for_update()
        .filter(pk__in=wanted, state=Blob.State.COMPLETE)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    if found != wanted:
        raise ContentGone(
            gettext(
                "The uploaded content was removed before it could be saved (it waited longer "
                "than the orphan grace period); upload it again."
            )
        )
