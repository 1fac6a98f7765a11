"""Master keys: parsing LOCKER_MASTER_KEYS, wrapping blobs' data keys, and rotation.

`LOCKER_MASTER_KEYS` = "id:base64(32 bytes),id2:base64(32 bytes)", newest first. The newest key
wraps new data keys; every listed key unwraps. See docs/encryption.md.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from storage import crypto

_KEY_ID = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")


class UnknownMasterKeyError(Exception):
    """A blob's data key is wrapped by a master key that is not configured."""

    def __init__(self, master_key_id: str):
        self.master_key_id = master_key_id
        super().__init__(
            f"Content is wrapped by master key {master_key_id!r}, which is not in "
            "LOCKER_MASTER_KEYS. Add that key back (after the newest one) to read it, then run "
            "'manage.py rotatekeys' before removing it again."
        )


@dataclass(frozen=True)
class MasterKeys:
    newest_id: str
    keys: dict[str, bytes]

    @property
    def newest(self) -> bytes:
        return self.keys[self.newest_id]

    def get(self, key_id: str) -> bytes:
        try:
            return self.keys[key_id]
        except KeyError:
            raise UnknownMasterKeyError(key_id) from None


def parse_master_keys(value: str) -> MasterKeys:
    """Parse "id:base64,id2:base64" (newest first); raise ImproperlyConfigured with a reason."""

    def bad(reason: str) -> ImproperlyConfigured:
        return ImproperlyConfigured(
            f"LOCKER_MASTER_KEYS is malformed: {reason}. Expected "
            "'id:base64key[,id2:base64key…]' with 32-byte keys, newest first."
        )

    keys: dict[str, bytes] = {}
    entries = [entry.strip() for entry in (value or "").split(",") if entry.strip()]
    if not entries:
        raise bad("it is empty")
    for position, entry in enumerate(entries, start=1):
        key_id, sep, encoded = entry.partition(":")
        key_id = key_id.strip()
        if not sep:
            raise bad(f"entry {position} has no ':' between id and key")
        if not _KEY_ID.match(key_id):
            raise bad(
                f"entry {position} has an invalid id (use 1-32 letters, digits, '.', '_' or '-')"
            )
        if key_id in keys:
            raise bad(f"the id {key_id!r} appears twice")
        try:
            raw = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise bad(f"the key of {key_id!r} is not valid base64") from None
        if len(raw) != crypto.DATA_KEY_SIZE:
            raise bad(f"the key of {key_id!r} is {len(raw)} bytes, not 32")
        keys[key_id] = raw
    return MasterKeys(newest_id=next(iter(keys)), keys=keys)


@lru_cache(maxsize=4)
def _parse_cached(value: str) -> MasterKeys:
    return parse_master_keys(value)


def master_keys() -> MasterKeys:
    """The configured master keys (read from settings on each call, so overrides apply)."""
    return _parse_cached(settings.LOCKER_MASTER_KEYS)


def wrap_for_new_blob(data_key: bytes, storage_key: str) -> tuple[str, bytes]:
    """Wrap a data key under the newest master key; returns (master key id, wrapped key)."""
    keys = master_keys()
    wrapped = crypto.wrap_data_key(
        data_key, master_key=keys.newest, master_key_id=keys.newest_id, storage_key=storage_key
    )
    return keys.newest_id, wrapped


# --- Secrets of other apps sealed under the master keys ----------------------------------------
# A few secrets must be shown again by the server (a share link's token): their apps store them
# sealed (crypto.seal_secret) in a column of their own, and register that column here so that
# rotation re-seals them with the data keys (storage imports nothing of those apps).


@dataclass(frozen=True)
class SealedColumn:
    """A model's column of sealed secrets: `key_id_field` names the master key that sealed
    `sealed_field` (empty: nothing sealed), and `context_field` is the row's id bound to it."""

    model: type
    purpose: str
    key_id_field: str
    sealed_field: str
    context_field: str


_sealed_columns: list[SealedColumn] = []


def sealed_column_register(column: SealedColumn) -> None:
    if column not in _sealed_columns:
        _sealed_columns.append(column)


def sealed_columns() -> list[SealedColumn]:
    return list(_sealed_columns)


def seal(secret: bytes, *, purpose: str, context: str) -> tuple[str, bytes]:
    """Seal a secret under the newest master key; returns (master key id, sealed bytes)."""
    keys = master_keys()
    sealed = crypto.seal_secret(
        secret,
        master_key=keys.newest,
        master_key_id=keys.newest_id,
        purpose=purpose,
        context=context,
    )
    return keys.newest_id, sealed


def unseal(sealed: bytes, *, master_key_id: str, purpose: str, context: str) -> bytes:
    """Open a sealed secret. Raises UnknownMasterKeyError or crypto.DecryptionError."""
    return crypto.open_secret(
        sealed,
        master_key=master_keys().get(master_key_id),
        master_key_id=master_key_id,
        purpose=purpose,
        context=context,
    )


def unwrap_blob_key(blob) -> bytes:
    """The data key of a Blob. Raises UnknownMasterKeyError or crypto.DecryptionError."""
    master_key = master_keys().get(blob.master_key_id)
    return crypto.unwrap_data_key(
        bytes(blob.wrapped_key),
        master_key=master_key,
        master_key_id=blob.master_key_id,
        storage_key=blob.storage_key,
    )


@dataclass
class RotationResult:
    rewrapped: int = 0
    skipped: int = 0  # changed by someone else while we worked; picked up on a re-run
    failed: int = 0  # unknown master key or a wrapped key that does not authenticate
    remaining: int = 0  # rows not under the newest key after this run

    @property
    def done(self) -> bool:
        return self.remaining == 0


def rotate_master_keys(
    *, batch_size: int = 500, max_batches: int | None = None, log=None
) -> RotationResult:
    """Re-wrap every blob's data key under the newest master key; content is not touched. The
    secrets of the registered sealed columns (`sealed_column_register`) are re-sealed too, and
    count in the same result.

    Works in batches by primary key; each row is updated only if it still carries the wrapped
    key we read (`UPDATE … WHERE master_key_id = old AND wrapped_key = old`), so it is safe to
    interrupt, to re-run, and to run next to uploads.
    """
    from storage.models import Blob

    keys = master_keys()
    result = RotationResult()
    last_pk = 0
    batches = 0
    while max_batches is None or batches < max_batches:
        rows = list(
            Blob.objects.exclude(master_key_id=keys.newest_id)
            .filter(pk__gt=last_pk)
            .order_by("pk")
            .values_list("pk", "storage_key", "master_key_id", "wrapped_key")[:batch_size]
        )
        if not rows:
            break
        batches += 1
        for pk, storage_key, old_id, old_wrapped in rows:
            last_pk = pk
            old_wrapped = bytes(old_wrapped)
            try:
                data_key = crypto.unwrap_data_key(
                    old_wrapped,
                    master_key=keys.get(old_id),
                    master_key_id=old_id,
                    storage_key=storage_key,
                )
            except (UnknownMasterKeyError, crypto.DecryptionError) as exc:
                result.failed += 1
                if log:
                    log(f"blob {pk}: {exc}")
                continue
            new_wrapped = crypto.wrap_data_key(
                data_key,
                master_key=keys.newest,
                master_key_id=keys.newest_id,
                storage_key=storage_key,
            )
            updated = Blob.objects.filter(
                pk=pk, master_key_id=old_id, wrapped_key=old_wrapped
            ).update(master_key_id=keys.newest_id, wrapped_key=new_wrapped)
            if updated:
                result.rewrapped += 1
            else:
                result.skipped += 1
    result.remaining = Blob.objects.exclude(master_key_id=keys.newest_id).count()
    for column in sealed_columns():
        _reseal_column(
            column, keys, result, batch_size=batch_size, max_batches=max_batches, log=log
        )
    return result


def _reseal_column(
    column: SealedColumn,
    keys: MasterKeys,
    result: RotationResult,
    *,
    batch_size: int,
    max_batches: int | None,
    log,
) -> None:
    """Re-seal a registered column's secrets under the newest master key, as the data keys are
    re-wrapped: in primary-key batches, each row updated only if it still holds what was read.
    Its counts add to `result`."""
    key_id, sealed, context = column.key_id_field, column.sealed_field, column.context_field
    stale = column.model._default_manager.exclude(**{key_id: keys.newest_id}).exclude(
        **{key_id: ""}
    )
    last_pk = 0
    batches = 0
    while max_batches is None or batches < max_batches:
        rows = list(
            stale.filter(pk__gt=last_pk)
            .order_by("pk")
            .values_list("pk", key_id, sealed, context)[:batch_size]
        )
        if not rows:
            break
        batches += 1
        for pk, old_id, old_sealed, row_context in rows:
            last_pk = pk
            old_sealed = bytes(old_sealed)
            try:
                secret = crypto.open_secret(
                    old_sealed,
                    master_key=keys.get(old_id),
                    master_key_id=old_id,
                    purpose=column.purpose,
                    context=str(row_context),
                )
            except (UnknownMasterKeyError, crypto.DecryptionError) as exc:
                result.failed += 1
                if log:
                    log(f"{column.model._meta.label} {pk} ({column.purpose}): {exc}")
                continue
            new_sealed = crypto.seal_secret(
                secret,
                master_key=keys.newest,
                master_key_id=keys.newest_id,
                purpose=column.purpose,
                context=str(row_context),
            )
            updated = column.model._default_manager.filter(
                pk=pk, **{key_id: old_id, sealed: old_sealed}
            ).update(**{key_id: keys.newest_id, sealed: new_sealed})
            if updated:
                result.rewrapped += 1
            else:
                result.skipped += 1
    result.remaining += stale.count()
