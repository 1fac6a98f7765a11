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

Reading a backup back, verified, and restoring it is storage/restore.py.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

from storage import crypto, dbsnapshot
from storage.backends import get_blobstore
from storage.backends.base import KEY_PATTERN, BlobStore, object_name

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
    """Write a backup of this instance into `directory` (new or empty); returns the manifest.

    The backup is built in `.<name>.partial` beside it and renamed to `directory` once it is
    complete, so a backup killed half-way never leaves a directory that looks like a backup,
    nor temporary files inside one; the next backup into the same parent directory removes
    what a killed one left, whatever its name (no other can be writing it: backups beside each
    other take turns, flock on the parent directory)."""
    directory = Path(directory).absolute()
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise BackupError(
            f"{directory} is not an empty directory: a backup goes into a new or empty "
            "directory, so that it never mixes with another one."
        )
    directory.parent.mkdir(parents=True, exist_ok=True)
    partial = directory.with_name(f".{directory.name}.partial")
    with _backups_beside(directory):
        # Every `.<name>.partial` here is a killed backup's (nobody else holds the lock), the
        # next backup's name or another: what it holds (a database dump, maybe keys) goes.
        for stale in directory.parent.glob(".*.partial"):
            if stale.is_dir() and not stale.is_symlink():
                _say(log, f"Removing {stale}, left by a backup that did not finish.")
                shutil.rmtree(stale)
        partial.mkdir(mode=0o700)
        try:
            manifest = _backup_into(partial, include_keys, log)
            # Onto a new or empty directory (rename(2) replaces an empty one): the backup
            # appears whole, as private as the instance.
            os.rename(partial, directory)
            _fsync_dir(directory.parent)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
    return manifest


@contextlib.contextmanager
def _backups_beside(directory: Path) -> Iterator[None]:
    """Hold the parent directory's exclusive flock while a backup is written beside it (the
    kernel lets go of it when the process dies: a killed backup holds nothing)."""
    fd = os.open(directory.parent, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BackupError(
                f"Another backup is being written into {directory.parent}; wait for it to "
                "finish, or write this one elsewhere."
            ) from None
        yield
    finally:
        os.close(fd)


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
        "locker_version": settings.LOCKER_VERSION,
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
