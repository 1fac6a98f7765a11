"""Consistent snapshots of the database for `manage.py backup`, and loading one back (restore).

- SQLite (the embedded default): SQLite's online backup API copies the live database in one
  step, a consistent snapshot even while other processes write (WAL). What the snapshot holds is
  then read from the copy itself.
- PostgreSQL: `pg_dump --format=custom`, run on a snapshot this process exported
  (`pg_export_snapshot()` in a REPEATABLE READ transaction), so that the rows this process reads
  next to the dump (the blobs to back up, the applied migrations) are exactly the dump's. Loaded
  back by `pg_restore` piped into one `psql --single-transaction`, whose first statements drop
  the tables already there: all of it commits, or nothing changes.

Both read the snapshot's rows through `SnapshotReader`, with plain SQL built from the models'
metadata, so the storage app names no other app's model.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
import tempfile
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from django.db import DEFAULT_DB_ALIAS, connections, models, transaction

from storage.models import Blob

SQLITE = "sqlite"
POSTGRESQL = "postgresql"
DUMP_FILES = {SQLITE: "database.sqlite3", POSTGRESQL: "database.pgdump"}


class DatabaseToolError(Exception):
    """pg_dump, pg_restore or psql is missing or failed; the message says which and why."""


@dataclass(frozen=True)
class SnapshotBlob:
    storage_key: str
    size: int  # plaintext bytes
    segment_size: int
    master_key_id: str
    wrapped_key: bytes
    required: bool  # a file or a thumbnail uses it: its object must be in the backup


def engine(alias: str = DEFAULT_DB_ALIAS) -> str:
    vendor = connections[alias].vendor
    if vendor not in (SQLITE, POSTGRESQL):
        raise DatabaseToolError(f"Backups support SQLite and PostgreSQL, not {vendor}.")
    return vendor


class SnapshotReader:
    """Reads rows of one snapshot through a DB-API cursor (`?` or `%s` placeholders)."""

    PAGE = 2000

    def __init__(self, cursor, placeholder: str, collate: str = ""):
        self.cursor = cursor
        self.placeholder = placeholder
        # Keys are compared byte by byte, as Python compares them (the backup merges sorted
        # lists): PostgreSQL's default collation may order text otherwise.
        self.collate = collate

    def migrations(self) -> list[tuple[str, str]]:
        self.cursor.execute('SELECT "app", "name" FROM "django_migrations" ORDER BY 1, 2')
        return [(app, name) for app, name in self.cursor.fetchall()]

    def blobs(self) -> Iterator[SnapshotBlob]:
        """Complete blobs in storage-key order, a page at a time (keyset), whatever their number.

        Blobs still being written (uploads in progress) are left out: their partial objects
        change as bytes arrive and cannot be copied consistently.
        """
        meta = Blob._meta
        table = meta.db_table
        column = {name: meta.get_field(name).column for name in (*_BLOB_FIELDS, "state")}
        uses = [
            # Names from the models' metadata, never from input.
            f'EXISTS (SELECT 1 FROM "{rel.related_model._meta.db_table}" AS u '  # noqa: S608
            f'WHERE u."{rel.field.column}" = b."{meta.pk.column}")'
            for rel in meta.related_objects
            if rel.on_delete is models.PROTECT
        ]
        required = " OR ".join(uses) or "FALSE"
        selected = ", ".join(f'b."{column[name]}"' for name in _BLOB_FIELDS)
        query = (
            f'SELECT {selected}, ({required}) FROM "{table}" AS b '  # noqa: S608
            f'WHERE b."{column["state"]}" = {self.placeholder} '
            f'AND b."{column["storage_key"]}"{self.collate} > {self.placeholder} '
            f'ORDER BY b."{column["storage_key"]}"{self.collate} LIMIT {self.PAGE}'
        )
        after = ""
        while True:
            self.cursor.execute(query, [Blob.State.COMPLETE, after])
            rows = self.cursor.fetchall()
            for key, size, segment_size, master_key_id, wrapped_key, required_ in rows:
                yield SnapshotBlob(
                    storage_key=key,
                    size=int(size),
                    segment_size=int(segment_size),
                    master_key_id=master_key_id,
                    wrapped_key=bytes(wrapped_key),
                    required=bool(required_),
                )
            if len(rows) < self.PAGE:
                return
            after = rows[-1][0]


_BLOB_FIELDS = ("storage_key", "size", "segment_size", "master_key_id", "wrapped_key")


# --- taking a snapshot --------------------------------------------------------------------------


@contextlib.contextmanager
def snapshot(path: Path, alias: str = DEFAULT_DB_ALIAS) -> Iterator[SnapshotReader]:
    """Write a consistent snapshot of the database to `path`; yields a reader of that snapshot's
    rows (valid inside the block)."""
    if engine(alias) == SQLITE:
        with _sqlite_snapshot(path, alias) as reader:
            yield reader
    else:
        with _postgresql_snapshot(path, alias) as reader:
            yield reader


def _sqlite_uri(path, mode: str = "ro&immutable=1") -> str:
    return f"file:{urllib.parse.quote(str(path))}?mode={mode}"


@contextlib.contextmanager
def _sqlite_snapshot(path: Path, alias: str) -> Iterator[SnapshotReader]:
    source_path = connections[alias].settings_dict["NAME"]
    source = sqlite3.connect(_sqlite_uri(source_path, "ro"), uri=True, timeout=30)
    target = sqlite3.connect(path)
    try:
        # One step (pages=-1): the copy is one read transaction of the source, a consistent
        # snapshot; writers in other processes go on meanwhile (WAL).
        source.backup(target)
        # A self-contained file: no -wal/-shm beside it when it is read or restored.
        target.execute("PRAGMA journal_mode=DELETE")
    finally:
        target.close()
        source.close()
    os.chmod(path, 0o600)
    reader_connection = sqlite3.connect(_sqlite_uri(path), uri=True)
    try:
        yield SnapshotReader(reader_connection.cursor(), "?")
    finally:
        reader_connection.close()


def _tool(name: str) -> str:
    found = shutil.which(name)
    if not found:
        raise DatabaseToolError(
            f"{name} is not installed; it comes with the PostgreSQL client tools "
            "(Debian: apt-get install postgresql-client), of the server's major version or newer."
        )
    return found


def _pg_env(alias: str) -> dict[str, str]:
    """The environment that points libpq tools at the database of `alias`."""
    from django.db.backends.postgresql.client import DatabaseClient

    settings_dict = connections[alias].settings_dict
    _args, env = DatabaseClient.settings_to_cmd_args_env(settings_dict, [])
    options = settings_dict.get("OPTIONS", {})
    result = {**os.environ, **(env or {})}
    values = {
        "PGHOST": settings_dict.get("HOST") or options.get("host"),
        "PGPORT": settings_dict.get("PORT") or options.get("port"),
        "PGUSER": settings_dict.get("USER") or options.get("user"),
        "PGDATABASE": settings_dict.get("NAME") or options.get("dbname"),
        "PGCONNECT_TIMEOUT": options.get("connect_timeout"),
    }
    result.update({name: str(value) for name, value in values.items() if value})
    return result


def _run(command: list[str], env: dict[str, str], what: str) -> None:
    with tempfile.TemporaryFile() as errors:
        done = subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=errors)
        if done.returncode:
            errors.seek(0)
            message = errors.read().decode(errors="replace").strip()[-2000:]
            raise DatabaseToolError(f"{what} failed (exit status {done.returncode}): {message}")


@contextlib.contextmanager
def _postgresql_snapshot(path: Path, alias: str) -> Iterator[SnapshotReader]:
    pg_dump = _tool("pg_dump")
    connection = connections[alias]
    connection.ensure_connection()
    with transaction.atomic(using=alias), connection.cursor() as cursor:
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        cursor.execute("SELECT pg_export_snapshot()")
        (snapshot_id,) = cursor.fetchone()
        _run(
            [
                pg_dump,
                "--format=custom",
                "--no-owner",
                "--no-privileges",
                "--no-comments",
                f"--snapshot={snapshot_id}",
                f"--file={path}",
            ],
            _pg_env(alias),
            "pg_dump",
        )
        os.chmod(path, 0o600)
        yield SnapshotReader(cursor, "%s", collate=' COLLATE "C"')


# --- reading a snapshot file (restore) ----------------------------------------------------------


def check_sqlite_file(path: Path) -> None:
    """Raise DatabaseToolError unless `path` is an intact SQLite database."""
    try:
        with contextlib.closing(sqlite3.connect(_sqlite_uri(path), uri=True)) as connection:
            (result,) = connection.execute("PRAGMA quick_check").fetchone()
    except sqlite3.DatabaseError as exc:
        raise DatabaseToolError(f"The database file is not a usable SQLite file: {exc}") from None
    if result != "ok":
        raise DatabaseToolError(f"The database file fails SQLite's check: {result}")


def check_pg_dump_file(path: Path) -> None:
    """Raise DatabaseToolError unless pg_restore can read the dump's table of contents."""
    _run([_tool("pg_restore"), "--list", str(path)], dict(os.environ), "pg_restore --list")


# --- the target database --------------------------------------------------------------------


def table_names(alias: str = DEFAULT_DB_ALIAS) -> list[str]:
    with connections[alias].cursor() as cursor:
        return connections[alias].introspection.table_names(cursor)


def load(path: Path, alias: str = DEFAULT_DB_ALIAS) -> None:
    """Replace the whole database of `alias` with the snapshot at `path`, atomically."""
    if engine(alias) == SQLITE:
        _sqlite_load(path, alias)
    else:
        _postgresql_load(path, alias)


def _sqlite_load(path: Path, alias: str) -> None:
    connections[alias].close()
    target_path = connections[alias].settings_dict["NAME"]
    source = sqlite3.connect(_sqlite_uri(path), uri=True)
    target = sqlite3.connect(target_path, timeout=30)
    try:
        # The backup API replaces every page of the target in one write transaction of it: a
        # failure leaves the target as it was.
        source.backup(target)
    finally:
        target.close()
        source.close()


def _postgresql_load(path: Path, alias: str) -> None:
    pg_restore = _tool("pg_restore")
    psql = _tool("psql")
    quote = connections[alias].ops.quote_name
    existing = table_names(alias)
    connections[alias].close()
    env = _pg_env(alias)
    # One explicit transaction: COMMIT is sent only once pg_restore has produced the whole
    # script; psql stops at the first error (ON_ERROR_STOP) and a transaction never committed
    # is rolled back by the server.
    preamble = "SET client_min_messages = warning;\nBEGIN;\n"
    if existing:
        preamble += f"DROP TABLE IF EXISTS {', '.join(quote(t) for t in existing)} CASCADE;\n"
    with tempfile.TemporaryFile() as restore_errors, tempfile.TemporaryFile() as psql_errors:
        psql_process = subprocess.Popen(
            [psql, "--no-psqlrc", "--quiet", "-v", "ON_ERROR_STOP=1"],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=psql_errors,
        )
        restore_process = subprocess.Popen(
            [pg_restore, "--no-owner", "--no-privileges", "--file=-", str(path)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=restore_errors,
        )
        try:
            psql_process.stdin.write(preamble.encode())
            shutil.copyfileobj(restore_process.stdout, psql_process.stdin, 1024 * 1024)
            restore_status = restore_process.wait()
            if restore_status == 0:
                psql_process.stdin.write(b"COMMIT;\n")
        except BrokenPipeError:
            restore_status = restore_process.wait()  # psql stopped on an error: reported below
        finally:
            restore_process.stdout.close()
            with contextlib.suppress(BrokenPipeError):
                psql_process.stdin.close()
        psql_status = psql_process.wait()
        for status, errors, what in (
            (restore_status, restore_errors, "pg_restore (nothing was changed)"),
            (psql_status, psql_errors, "psql (loading the dump; nothing was changed)"),
        ):
            if status:
                errors.seek(0)
                message = errors.read().decode(errors="replace").strip()[-2000:]
                raise DatabaseToolError(f"{what} failed (exit status {status}): {message}")
