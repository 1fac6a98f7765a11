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
    _rotate_rows(
        Blob.objects.exclude(master_key_id=keys.newest_id),
        key_id_field="master_key_id",
        secret_field="wrapped_key",
        context_field="storage_key",
        reopen=lambda old, key, key_id, storage_key: crypto.unwrap_data_key(
            old, master_key=key, master_key_id=key_id, storage_key=storage_key
        ),
        close=lambda data_key, storage_key: crypto.wrap_data_key(
            data_key,
            master_key=keys.newest,
            master_key_id=keys.newest_id,
            storage_key=storage_key,
        ),
        label="blob",
        keys=keys,
        result=result,
        batch_size=batch_size,
        max_batches=max_batches,
        log=log,
    )
    for column in sealed_columns():
        purpose = column.purpose
        _rotate_rows(
            column.model._default_manager.exclude(**{column.key_id_field: keys.newest_id}).exclude(
                **{column.key_id_field: ""}
            ),
            key_id_field=column.key_id_field,
            secret_field=column.sealed_field,
            context_field=column.context_field,
            reopen=lambda old, key, key_id, context, purpose=purpose: crypto.open_secret(
                old, master_key=key, master_key_id=key_id, purpose=purpose, context=str(context)
            ),
            close=lambda secret, context, purpose=purpose: crypto.seal_secret(
                secret,
                master_key=keys.newest,
                master_key_id=keys.newest_id,
                purpose=purpose,
                context=str(context),
            ),
            label=f"{column.model._meta.label} ({purpose})",
            keys=keys,
            result=result,
            batch_size=batch_size,
            max_batches=max_batches,
            log=log,
        )
    return result


def _rotate_rows(
    stale,
    *,
    key_id_field: str,
    secret_field: str,
    context_field: str,
    reopen,
    close,
    label: str,
    keys: MasterKeys,
    result: RotationResult,
    batch_size: int,
    max_batches: int | None,
    log,
) -> None:
    """Move the rows of `stale` (a queryset of rows not under the newest key) to the newest key:
    `reopen(old, master_key, master_key_id, context)` opens a row's secret, `close(secret,
    context)` seals it again. In primary-key batches, each row updated only if it still holds
    what was read. Counts add to `result`."""
    last_pk = 0
    batches = 0
    while max_batches is None or batches < max_batches:
        rows = list(
            stale.filter(pk__gt=last_pk)
            .order_by("pk")
            .values_list("pk", key_id_field, secret_field, context_field)[:batch_size]
        )
        if not rows:
            break
        batches += 1
        for pk, old_id, old_secret, context in rows:
            last_pk = pk
            old_secret = bytes(old_secret)
            try:
                opened = reopen(old_secret, keys.get(old_id), old_id, context)
            except (UnknownMasterKeyError, crypto.DecryptionError) as exc:
                result.failed += 1
                if log:
                    log(f"{label} {pk}: {exc}")
                continue
            updated = stale.model._default_manager.filter(
                pk=pk, **{key_id_field: old_id, secret_field: old_secret}
            ).update(**{key_id_field: keys.newest_id, secret_field: close(opened, context)})
            if updated:
                result.rewrapped += 1
            else:
                result.skipped += 1
    result.remaining += stale.count()
