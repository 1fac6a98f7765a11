"""`manage.py backup DIR` and `manage.py restore DIR`: a whole instance in one directory.

A backup directory holds:

    manifest.json       written last: what the backup holds, with checksums (below)
    database.sqlite3    SQLite's online backup of the embedded database, or
    database.pgdump     pg_dump --format=custom of PostgreSQL (storage/dbsnapshot.py)
    objects.tsv         every stored object the database needs: key, bytes, SHA-256 (sorted)
    objects/ab/cd/…     the objects themselves, with local storage (S3: they stay in the bucket)
    keys/               master keys and SECRET_KEY, only with --include-keys

Consistency with local storage. The database is snapshotted first; the objects copied are the
ones that snapshot's complete blobs name, nothing newer (an object written after the snapshot is
not needed by it). An object can only be deleted after no file or thumbnail row uses its blob
any more, and that deletion is committed first (files.services purges rows, then deletes the
objects on commit; storage.blobs.delete_blob refuses while a file or thumbnail uses the blob).
So an object the snapshot needs that is gone when its turn to be copied comes was deleted after
the snapshot, by a purge that the snapshot predates. The backup then takes a new snapshot (which
no longer needs it, the purge having committed) and copies what that one adds; objects copied
earlier that the new snapshot no longer names are removed from the backup. This repeats until a
pass finds every object (at most MAX_ROUNDS). An object still needed by the next snapshot and
still missing was not deleted by Locker: the storage is damaged, and the backup says so.
Complete blobs no file uses (a multi-file upload still arriving, a crash's leftover) are copied
when present and left out when not: the orphan cleanup reclaims their rows after a restore.
Uploads in progress (blobs still being written) are not in a backup.

Restore verifies the whole backup (manifest checksum, database file, object list, every object's
size and SHA-256, the master keys it needs, the migrations) before it changes anything, refuses
a non-empty instance without `force`, then writes the objects, then replaces the database in one
step, then installs the keys (when included and the instance keeps its keys in its data dir).
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import DEFAULT_DB_ALIAS, connections

from storage import crypto, dbsnapshot
from storage.backends import get_blobstore
from storage.backends.base import KEY_PATTERN, BlobStore, object_name
from storage.masterkeys import MasterKeys, parse_master_keys
from storage.models import Blob

FORMAT = "locker-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
OBJECT_LIST = "objects.tsv"
OBJECTS_DIR = "objects"
KEYS_DIR = "keys"
MASTER_KEY_FILE = "master.key"
SECRET_KEY_FILE = "secret_key"
MAX_ROUNDS = 5
CHUNK = 1024 * 1024
EXAMPLES = 3  # keys named in an error about many objects


class BackupError(Exception):
    """A backup or restore that cannot go on; the message is a sentence for the operator."""


def _say(log: Callable[[str], None] | None, line: str) -> None:
    if log:
        log(line)


# --- small helpers ------------------------------------------------------------------------------


def _sha256_file(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_private(path: Path, text: str) -> None:
    """Write a small file with mode 0600, atomically (a temporary name, then a rename)."""
    temporary = path.with_name(f".{path.name}.tmp")
    with contextlib.suppress(FileNotFoundError):
        temporary.unlink()
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    _fsync_dir(path.parent)


def _create_private(path: Path):
    """A new text file (replacing any) readable by its owner only."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    return open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w", encoding="ascii")


def _make_private_dirs(path: Path) -> None:
    """mkdir -p with mode 0700 at every level it creates (Path.mkdir gives it to the last)."""
    if path.is_dir():
        return
    _make_private_dirs(path.parent)
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=0o700)


def _canonical(document: dict) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


@dataclass(frozen=True)
class ListedObject:
    key: str
    size: int  # stored (encrypted) bytes
    sha256: str  # of the stored bytes; "-" when the object is not in the backup (S3)

    def line(self) -> str:
        return f"{self.key}\t{self.size}\t{self.sha256}\n"


def _read_list(path: Path) -> Iterator[ListedObject]:
    """The lines of an object list, checked: well-formed and in strictly ascending key order."""
    if not path.exists():
        return
    previous = ""
    with open(path, encoding="ascii") as handle:
        for number, line in enumerate(handle, start=1):
            parts = line.rstrip("\n").split("\t")
            if (
                len(parts) != 3
                or not KEY_PATTERN.match(parts[0])
                or not parts[1].isdigit()
                or parts[0] <= previous
            ):
                raise BackupError(f"{path.name} is damaged at line {number}.")
            previous = parts[0]
            yield ListedObject(parts[0], int(parts[1]), parts[2])


def _merge(left: Iterator, right: Iterator, key=lambda item: item) -> Iterator[tuple]:
    """Walk two iterators sorted by key: (left item or None, right item or None) per key."""
    missing = object()
    a, b = next(left, missing), next(right, missing)
    while a is not missing or b is not missing:
        if b is missing or (a is not missing and key(a) < key(b)):
            yield a, None
            a = next(left, missing)
        elif a is missing or key(b) < key(a):
            yield None, b
            b = next(right, missing)
        else:
            yield a, b
            a, b = next(left, missing), next(right, missing)


def _object_keys_in(store: BlobStore) -> Iterator[str]:
    """Every finished object's key in an S3 store, ascending (the listing's order, so that it
    merges with a sorted list in constant memory); raises when the listing is out of order,
    rather than answering wrongly."""
    previous = ""
    for key, _modified in store.iter_objects():
        if key <= previous:
            raise BackupError(
                "The bucket listing is not in key order; this S3 server cannot be checked."
            )
        previous = key
        yield key


# --- backup -------------------------------------------------------------------------------------


@dataclass
class _Round:
    """What one snapshot needs, written to a sorted list beside the backup."""

    migrations: list[tuple[str, str]] = field(default_factory=list)
    key_samples: dict[str, dict[str, str]] = field(default_factory=dict)


def _take_snapshot(directory: Path, db_file: Path, snapshot_list: Path) -> _Round:
    found = _Round()
    with contextlib.suppress(FileNotFoundError):
        db_file.unlink()
    with dbsnapshot.snapshot(db_file) as reader, _create_private(snapshot_list) as out:
        found.migrations = reader.migrations()
        for blob in reader.blobs():
            out.write(
                f"{blob.storage_key}\t{crypto.encrypted_size(blob.size, blob.segment_size)}\t"
                f"{int(blob.required)}\n"
            )
            found.key_samples.setdefault(
                blob.master_key_id,
                {
                    "storage_key": blob.storage_key,
                    "wrapped_key": base64.b64encode(blob.wrapped_key).decode(),
                },
            )
    return found


def _snapshot_lines(path: Path) -> Iterator[tuple[str, int, bool]]:
    with open(path, encoding="ascii") as handle:
        for line in handle:
            key, size, required = line.rstrip("\n").split("\t")
            yield key, int(size), required == "1"


def _copy_object(store: BlobStore, key: str, target: Path) -> ListedObject | None:
    """Stream one local object into the backup; None when it is gone from storage."""
    try:
        source = open(store.path(key), "rb")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        return None
    _make_private_dirs(target.parent)
    digest = hashlib.sha256()
    size = 0
    with source, open(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as out:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
            out.write(chunk)
            size += len(chunk)
        out.flush()
        os.fsync(out.fileno())
    return ListedObject(key, size, digest.hexdigest())


def _collect_objects(
    store: BlobStore, directory: Path, snapshot_list: Path
) -> tuple[list[str], int]:
    """Bring objects.tsv (and, for local storage, objects/) in line with the snapshot list.
    Returns (keys the snapshot requires that storage no longer has, objects copied now)."""
    copied_list = directory / OBJECT_LIST
    new_list = directory / f".{OBJECT_LIST}.new"
    missing: list[str] = []
    copied = 0
    wanted = _snapshot_lines(snapshot_list)
    with _create_private(new_list) as out:
        if store.kind == "local":
            for need, have in _merge(wanted, _read_list(copied_list), key=_first):
                if need is None:  # copied for an earlier snapshot, not needed by this one
                    with contextlib.suppress(FileNotFoundError):
                        (directory / OBJECTS_DIR / object_name(have.key)).unlink()
                    continue
                if have is not None:
                    out.write(have.line())
                    continue
                key, _size, required = need
                listed = _copy_object(store, key, directory / OBJECTS_DIR / object_name(key))
                if listed is None:
                    if required:
                        missing.append(key)
                    continue
                copied += 1
                out.write(listed.line())
        else:
            for need, present in _merge(wanted, _object_keys_in(store), key=_first):
                if need is None:
                    continue
                key, size, required = need
                if present is None:
                    if required:
                        missing.append(key)
                    continue
                out.write(ListedObject(key, size, "-").line())
    os.replace(new_list, copied_list)
    return missing, copied


def _first(item) -> str:
    if isinstance(item, tuple):
        return item[0]
    if isinstance(item, ListedObject):
        return item.key
    return item


def _key_from_data_dir(name: str) -> bool:
    """True when the setting was generated into the data dir (no variable and no _FILE)."""
    return not (os.environ.get(name) or os.environ.get(f"{name}_FILE"))


def backup_create(
    *, directory: Path, include_keys: bool = False, log: Callable[[str], None] | None = None
) -> dict:
    """Write a backup of this instance into `directory` (new or empty); returns the manifest."""
    directory = Path(directory).absolute()
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise BackupError(
            f"{directory} is not an empty directory: a backup goes into a new or empty "
            "directory, so that it never mixes with another one."
        )
    created = not directory.exists()
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(OSError):  # the backup is as private as the instance
        directory.chmod(0o700)
    try:
        return _backup_into(directory, include_keys, log)
    except BaseException:
        # The directory was new or empty: what is in it now is this failed backup's.
        for entry in directory.iterdir():
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
        if created:
            with contextlib.suppress(OSError):
                directory.rmdir()
        raise


def _backup_into(directory: Path, include_keys: bool, log) -> dict:
    store = get_blobstore()
    engine = dbsnapshot.engine()
    db_file = directory / dbsnapshot.DUMP_FILES[engine]
    snapshot_list = directory / ".snapshot.tsv"
    started = dt.datetime.now(dt.UTC)
    previously_missing: set[str] = set()
    for round_number in range(1, MAX_ROUNDS + 1):
        snap = _take_snapshot(directory, db_file, snapshot_list)
        _say(log, f"Database snapshot {round_number} taken ({engine}).")
        missing, copied = _collect_objects(store, directory, snapshot_list)
        _say(
            log,
            f"{copied} objects copied."
            if store.kind == "local"
            else f"Objects checked in bucket {store.bucket!r}.",
        )
        damaged = sorted(set(missing) & previously_missing)
        if damaged:
            raise BackupError(
                f"{len(damaged)} stored objects that files still use are missing from storage "
                f"(e.g. {', '.join(damaged[:EXAMPLES])}): they were not deleted by Locker, so "
                "the storage is damaged. No backup was written."
            )
        if not missing:
            break
        _say(log, f"{len(missing)} objects were deleted since the snapshot; taking a new one.")
        previously_missing = set(missing)
    else:
        raise BackupError(
            "Files kept being deleted while the backup ran (tried "
            f"{MAX_ROUNDS} snapshots); run it again at a quieter time. No backup was written."
        )
    snapshot_list.unlink()

    count = total = 0
    for listed in _read_list(directory / OBJECT_LIST):
        count += 1
        total += listed.size
    db_bytes, db_sha256 = _sha256_file(db_file)
    list_bytes, list_sha256 = _sha256_file(directory / OBJECT_LIST)
    keys: dict = {
        "included": include_keys,
        "master_key_ids": sorted(snap.key_samples),
        "checks": snap.key_samples,
        "files": {},
    }
    if include_keys:
        keys_dir = directory / KEYS_DIR
        keys_dir.mkdir(mode=0o700, exist_ok=True)
        for name, value in (
            (MASTER_KEY_FILE, settings.LOCKER_MASTER_KEYS),
            (SECRET_KEY_FILE, settings.SECRET_KEY),
        ):
            _write_private(keys_dir / name, value + "\n")
            keys["files"][name] = _sha256_file(keys_dir / name)[1]
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "locker_version": getattr(settings, "LOCKER_VERSION", None),
        "created_at": started.isoformat().replace("+00:00", "Z"),
        "database": {
            "engine": engine,
            "file": db_file.name,
            "bytes": db_bytes,
            "sha256": db_sha256,
            "migrations": [f"{app}.{name}" for app, name in snap.migrations],
        },
        "storage": {
            "kind": store.kind,
            "objects_copied": store.kind == "local",
            "objects": count,
            "bytes": total,
            "list": OBJECT_LIST,
            "list_bytes": list_bytes,
            "list_sha256": list_sha256,
            **(
                {
                    "bucket": store.bucket,
                    "prefix": store.prefix,
                    "endpoint_url": settings.LOCKER_S3_ENDPOINT_URL,
                }
                if store.kind == "s3"
                else {}
            ),
        },
        "keys": keys,
        "snapshots_taken": round_number,
    }
    manifest["manifest_sha256"] = hashlib.sha256(_canonical(manifest)).hexdigest()
    _write_private(directory / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


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
