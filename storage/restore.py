"""`manage.py restore DIR`: a backup written by storage/backup.py, verified, then restored.

Restore verifies the whole backup (manifest checksum, database file, object list, every object's
size and SHA-256, the database engine, the migrations, the objects in the bucket for S3, the
master keys it needs) before it changes anything, refuses a non-empty instance without `force`,
then writes the objects into the configured storage, then replaces the database in one step
(storage/dbsnapshot.py), then installs the keys (when the backup has them and the instance keeps
its keys in its data dir).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import DEFAULT_DB_ALIAS, connections

from storage import crypto, dbsnapshot
from storage.backends import get_blobstore
from storage.backends.base import BlobStore, object_name
from storage.backup import (
    CHUNK,
    EXAMPLES,
    FORMAT,
    FORMAT_VERSION,
    KEYS_DIR,
    MANIFEST,
    MASTER_KEY_FILE,
    OBJECTS_DIR,
    SECRET_KEY_FILE,
    BackupError,
    ListedObject,
    _canonical,
    _first,
    _key_from_data_dir,
    _merge,
    _object_keys_in,
    _read_list,
    _say,
    _sha256_file,
    _write_private,
)
from storage.masterkeys import MasterKeys, parse_master_keys
from storage.models import Blob

# --- verification -------------------------------------------------------------------------------


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise BackupError(message)


def backup_read(directory: Path) -> dict:
    """The manifest of the backup in `directory`, after checking every file it names against
    it (sizes and SHA-256 of the database file, the object list and each copied object).
    Reads only; raises BackupError with a sentence at the first problem."""
    directory = Path(directory).absolute()
    path = directory / MANIFEST
    _check(directory.is_dir(), f"{directory} does not exist or is not a directory.")
    _check(
        path.is_file(),
        f"{directory} holds no {MANIFEST}: it is not a Locker backup, or the backup did not "
        "finish.",
    )
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise BackupError(f"{MANIFEST} is not valid JSON ({exc}); the backup is damaged.") from None
    _check(
        isinstance(manifest, dict) and manifest.get("format") == FORMAT,
        f"{MANIFEST} is not the manifest of a Locker backup.",
    )
    _check(
        manifest.get("format_version") == FORMAT_VERSION,
        f"This backup has format version {manifest.get('format_version')!r}; this version of "
        f"Locker reads version {FORMAT_VERSION}.",
    )
    recorded = manifest.pop("manifest_sha256", None)
    _check(
        recorded == hashlib.sha256(_canonical(manifest)).hexdigest(),
        f"{MANIFEST} was changed after the backup was written: its checksum does not match its "
        "content. Nothing was restored.",
    )
    try:
        database, storage, keys = manifest["database"], manifest["storage"], manifest["keys"]
        db_file = directory / Path(database["file"]).name
        _verify_file(db_file, database["bytes"], database["sha256"], "The database file")
        _verify_file(
            directory / Path(storage["list"]).name,
            storage["list_bytes"],
            storage["list_sha256"],
            "The object list",
        )
        count = total = 0
        for listed in _read_list(directory / Path(storage["list"]).name):
            count += 1
            total += listed.size
            if storage["objects_copied"]:
                _verify_file(
                    directory / OBJECTS_DIR / object_name(listed.key),
                    listed.size,
                    listed.sha256,
                    f"Object {listed.key}",
                )
        _check(
            (count, total) == (storage["objects"], storage["bytes"]),
            f"The object list holds {count} objects ({total} bytes), the manifest says "
            f"{storage['objects']} ({storage['bytes']} bytes); the backup is damaged.",
        )
        for name, sha256 in keys["files"].items():
            _verify_file(directory / KEYS_DIR / Path(name).name, None, sha256, f"keys/{name}")
    except (KeyError, TypeError) as exc:
        raise BackupError(f"{MANIFEST} lacks an entry ({exc}); the backup is damaged.") from None
    try:
        if database["engine"] == dbsnapshot.SQLITE:
            dbsnapshot.check_sqlite_file(db_file)
        else:
            dbsnapshot.check_pg_dump_file(db_file)
    except dbsnapshot.DatabaseToolError as exc:
        raise BackupError(str(exc)) from None
    return manifest


def _verify_file(path: Path, size: int | None, sha256: str, what: str) -> None:
    _check(path.is_file(), f"{what} is missing from the backup ({path}).")
    actual_size, actual_sha256 = _sha256_file(path)
    _check(
        (size is None or actual_size == size) and actual_sha256 == sha256,
        f"{what} does not match the manifest (size or SHA-256 differ): the backup is damaged.",
    )


# --- restore ------------------------------------------------------------------------------------


@dataclass
class RestoreResult:
    objects_written: int
    keys_installed: list[str]
    unapplied_migrations: int
    notes: list[str]


def _unknown_migrations(recorded: list[str]) -> list[str]:
    from django.db.migrations.loader import MigrationLoader

    known = {f"{app}.{name}" for app, name in MigrationLoader(None).disk_migrations}
    return sorted(set(recorded) - known)


def _instance_contents(alias: str = DEFAULT_DB_ALIAS) -> dict[str, int]:
    """Rows that make the database of this instance non-empty (users, stored objects)."""
    tables = set(dbsnapshot.table_names(alias))
    found = {}
    for label, model in (("users", get_user_model()), ("stored objects", Blob)):
        if model._meta.db_table in tables:
            found[label] = model._base_manager.using(alias).count()
    return {label: count for label, count in found.items() if count}


def _keys_after_restore(directory: Path, manifest: dict) -> tuple[MasterKeys, list[str]]:
    """The master keys the instance will hold after the restore, and which key files the
    restore installs into the data dir."""
    keys = manifest["keys"]
    install = []
    if keys["included"]:
        if _key_from_data_dir("LOCKER_MASTER_KEYS"):
            install.append(MASTER_KEY_FILE)
        if _key_from_data_dir("SECRET_KEY"):
            install.append(SECRET_KEY_FILE)
    if MASTER_KEY_FILE in install:
        value = (directory / KEYS_DIR / MASTER_KEY_FILE).read_text(encoding="utf-8").strip()
    else:
        value = settings.LOCKER_MASTER_KEYS
    return parse_master_keys(value), install


def _check_master_keys(directory: Path, manifest: dict, master: MasterKeys) -> None:
    where = (
        f"the backup's keys ({KEYS_DIR}/{MASTER_KEY_FILE}) are used only when LOCKER_MASTER_KEYS "
        "is not set; set it to them or unset it"
        if manifest["keys"]["included"]
        else "the backup holds no keys (it was made without --include-keys): set "
        "LOCKER_MASTER_KEYS to the keys kept apart from it, or put them in "
        f"{Path(settings.DATA_DIR) / MASTER_KEY_FILE}"
    )
    for key_id, sample in manifest["keys"]["checks"].items():
        if key_id not in master.keys:
            raise BackupError(
                f"This backup's files are encrypted under master key {key_id!r}, which this "
                f"instance does not have: {where}; then run restore again. Nothing was restored."
            )
        try:
            crypto.unwrap_data_key(
                base64.b64decode(sample["wrapped_key"]),
                master_key=master.keys[key_id],
                master_key_id=key_id,
                storage_key=sample["storage_key"],
            )
        except crypto.DecryptionError:
            raise BackupError(
                f"The master key {key_id!r} of this instance is not the one this backup's files "
                f"are encrypted with (same id, other key): {where}. Nothing was restored."
            ) from None


def _missing_from_store(store: BlobStore, list_path: Path) -> tuple[int, list[str]]:
    """(how many listed objects the store lacks, the first few of them)."""
    count, examples = 0, []
    for listed, present in _merge(_read_list(list_path), _object_keys_in(store), key=_first):
        if listed is not None and present is None:
            count += 1
            if len(examples) < EXAMPLES:
                examples.append(listed.key)
    return count, examples


def _write_object(store: BlobStore, source: Path, listed: ListedObject) -> None:
    writer = store.writer(listed.key)
    digest = hashlib.sha256()
    try:
        with open(source, "rb") as handle:
            while chunk := handle.read(CHUNK):
                digest.update(chunk)
                writer.write(chunk)
        if digest.hexdigest() != listed.sha256:
            raise BackupError(f"Object {listed.key} changed in the backup during the restore.")
        writer.finish()
    except BaseException:
        writer.abort()
        raise


def _install_key_file(directory: Path, name: str) -> None:
    target = Path(settings.DATA_DIR) / name
    value = (directory / KEYS_DIR / name).read_text(encoding="utf-8")
    if target.exists():
        if target.read_text(encoding="utf-8").strip() == value.strip():
            return
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        os.replace(target, target.with_name(f"{name}.before-restore-{stamp}"))
    _write_private(target, value)


def backup_restore(
    *, directory: Path, force: bool = False, log: Callable[[str], None] | None = None
) -> RestoreResult:
    """Restore the backup in `directory` into this instance (its database, storage and data
    dir); see the module's docstring for the order of the checks and of the changes."""
    directory = Path(directory).absolute()
    manifest = backup_read(directory)
    _say(
        log,
        f"Backup verified: {manifest['storage']['objects']} objects, taken "
        f"{manifest['created_at']}.",
    )
    engine = dbsnapshot.engine()
    recorded_engine = manifest["database"]["engine"]
    _check(
        recorded_engine == engine,
        f"This backup holds a {recorded_engine} database and this instance uses {engine} "
        "(DATABASE_URL): restore it into an instance with the same kind of database.",
    )
    unknown = _unknown_migrations(manifest["database"]["migrations"])
    _check(
        not unknown,
        "This backup was made by a newer version of Locker: its database has migrations this "
        f"version does not know ({', '.join(unknown[:EXAMPLES])}). Restore it with that version "
        "or a newer one.",
    )
    store = get_blobstore()
    storage = manifest["storage"]
    list_path = directory / Path(storage["list"]).name
    if not storage["objects_copied"]:
        _check(
            store.kind == storage["kind"],
            f"This backup's objects stayed in the S3 bucket {storage.get('bucket')!r}; configure "
            "this instance with LOCKER_STORAGE=s3 and that bucket (or a copy of it).",
        )
        missing, examples = _missing_from_store(store, list_path)
        _check(
            not missing,
            f"{missing} objects this backup needs are missing from bucket {store.bucket!r} "
            f"(e.g. {', '.join(examples)}): recover them from the bucket's versions "
            'or its replica (docs/operations.md, "Backup and restore"), then run restore '
            "again. Nothing was restored.",
        )
    master, install = _keys_after_restore(directory, manifest)
    _check_master_keys(directory, manifest, master)
    contents = _instance_contents()
    if contents and not force:
        held = ", ".join(f"{count} {label}" for label, count in contents.items())
        raise BackupError(
            f"This instance is not empty ({held}) and restore replaces its whole database: "
            "restore into a fresh data dir or an empty database, or pass --force to replace "
            "everything. Nothing was restored."
        )

    written = 0
    if storage["objects_copied"]:
        for listed in _read_list(list_path):
            _write_object(store, directory / OBJECTS_DIR / object_name(listed.key), listed)
            written += 1
        _say(log, f"{written} objects written to {store.kind} storage.")
    try:
        dbsnapshot.load(directory / Path(manifest["database"]["file"]).name)
    except dbsnapshot.DatabaseToolError as exc:
        raise BackupError(str(exc)) from None
    _say(log, "Database restored.")
    for name in install:
        _install_key_file(directory, name)
    for name in (MASTER_KEY_FILE, SECRET_KEY_FILE):
        # What a restore killed while writing a key left (key material): never kept.
        (Path(settings.DATA_DIR) / f".{name}.tmp").unlink(missing_ok=True)
    notes = []
    if manifest["keys"]["included"] and SECRET_KEY_FILE not in install:
        notes.append(
            "SECRET_KEY is set in the environment, so the backup's secret key was not "
            "installed: sessions and password-reset links from before the backup no longer work."
        )
    if not manifest["keys"]["included"]:
        notes.append(
            "The backup held no SECRET_KEY: unless this instance has the old one, people log in "
            "again (share links and API tokens work as before)."
        )
    return RestoreResult(
        objects_written=written,
        keys_installed=install,
        unapplied_migrations=_unapplied_migrations(),
        notes=notes,
    )


def _unapplied_migrations() -> int:
    from django.db.migrations.executor import MigrationExecutor

    connection = connections[DEFAULT_DB_ALIAS]
    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    connection.close()
    return len(plan)
