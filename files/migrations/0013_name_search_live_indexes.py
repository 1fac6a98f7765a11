"""Name search on live rows only, and in name order (docs/architecture.md, "Name search").

A search reads live files and folders (`deleted_at IS NULL`) of one owner, ordered by
`(name_key, name, id)`, a page at a time. Two indexes per table serve it, and PostgreSQL picks
the one that fits the term:

- `files_file_live_by_owner` / `files_folder_live_by_owner`, a btree on
  `(owner_id, name_key, name, id) WHERE deleted_at IS NULL` (both databases; it replaces
  files.0001's `(owner_id, name_key)`, which held trashed rows and not the whole order): a term
  that most of a user's names contain is a walk in order that stops at the end of the page, with
  no sort; a term without a trigram is that same walk (`files.selectors._name_search`).
- `files_file_live_name_trgm` / `files_folder_live_name_trgm`, a GIN index on
  `(owner_id, name_key gin_trgm_ops) WHERE deleted_at IS NULL` (PostgreSQL only; it replaces
  files.0011's, which held trashed rows too): a rare term is a bitmap of the owner's matches,
  then a sort of those few.

The lone index on `files_file.owner_id` goes too (below). Both new indexes are built
CONCURRENTLY on PostgreSQL (the migration is not atomic): a large locker keeps
taking uploads meanwhile. On SQLite the btree is added as usual and the GIN index does not
exist (search works there by walking the btree). As in files.0011, when the `pg_trgm` and
`btree_gin` extensions cannot be created, the migration says so and goes on without the GIN
index: search stays right, rare terms only slower.
"""

import sys

import django.db.models.deletion
from django.conf import settings
from django.db import DatabaseError, migrations, models
from django.db.models import Q

# (model, index of files.0001 that goes, index that replaces it)
BTREES = [
    (
        "file",
        models.Index(fields=["owner", "name_key"], name="files_file_owner_i_424e14_idx"),
        models.Index(
            fields=["owner", "name_key", "name", "id"],
            condition=Q(deleted_at__isnull=True),
            name="files_file_live_by_owner",
        ),
    ),
    (
        "folder",
        models.Index(fields=["owner", "name_key"], name="files_folde_owner_i_6db037_idx"),
        models.Index(
            fields=["owner", "name_key", "name", "id"],
            condition=Q(deleted_at__isnull=True),
            name="files_folder_live_by_owner",
        ),
    ),
]

# table → (files.0011's GIN index, this one's), PostgreSQL only.
GINS = {
    "files_file": ("files_file_name_search_trgm", "files_file_live_name_trgm"),
    "files_folder": ("files_folder_name_search_trgm", "files_folder_live_name_trgm"),
}
GIN_COLUMNS = "USING gin (owner_id, name_key gin_trgm_ops)"
LIVE = "WHERE deleted_at IS NULL"


def _btree_sql(table: str, index: models.Index) -> str:
    columns = ", ".join(f"{field}_id" if field == "owner" else field for field in index.fields)
    where = f" {LIVE}" if index.condition is not None else ""
    return f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {index.name} ON {table} ({columns}){where}"


def _create(cursor, name: str, sql: str) -> None:
    """`sql` creates index `name` CONCURRENTLY IF NOT EXISTS. A concurrent build that was cut
    off (a timeout, a restart) leaves its index behind, marked invalid and never used: drop it
    first, or IF NOT EXISTS would keep it."""
    cursor.execute(
        "SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "WHERE c.relname = %s AND NOT i.indisvalid",
        [name],
    )
    if cursor.fetchone():
        cursor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
    cursor.execute(sql)


def _extensions_ready(cursor) -> bool:
    try:
        cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        cursor.execute("CREATE EXTENSION IF NOT EXISTS btree_gin")
    except DatabaseError as exc:
        sys.stderr.write(
            "files.0013: could not create the pg_trgm and btree_gin extensions "
            f"({exc}); name search works without its trigram index, rare terms only slower. "
            "Create them as the database's owner, then `manage.py migrate files 0012` and "
            "`manage.py migrate` add it.\n"
        )
        return False
    return True


def _swap(apps, schema_editor, *, forwards: bool):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        for model_name, old, new in BTREES:
            model = apps.get_model("files", model_name)
            gone, added = (old, new) if forwards else (new, old)
            schema_editor.remove_index(model, gone)
            schema_editor.add_index(model, added)
        return
    with connection.cursor() as cursor:
        # The new index first, then the old one goes: search always has one to use.
        for model_name, old, new in BTREES:
            table = apps.get_model("files", model_name)._meta.db_table
            gone, added = (old, new) if forwards else (new, old)
            _create(cursor, added.name, _btree_sql(table, added))
            cursor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {gone.name}")
        if not _extensions_ready(cursor):
            return
        for table, (old, new) in GINS.items():
            gone, added = (old, new) if forwards else (new, old)
            where = f" {LIVE}" if added == new else ""
            _create(
                cursor,
                added,
                f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {added} ON {table} {GIN_COLUMNS}{where}",
            )
            cursor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {gone}")


def forwards(apps, schema_editor):
    _swap(apps, schema_editor, forwards=True)


def backwards(apps, schema_editor):
    _swap(apps, schema_editor, forwards=False)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("files", "0012_live_listing_indexes"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                operation
                for model_name, old, new in BTREES
                for operation in (
                    migrations.RemoveIndex(model_name=model_name, name=old.name),
                    migrations.AddIndex(model_name=model_name, index=new),
                )
            ],
            database_operations=[migrations.RunPython(forwards, backwards)],
        ),
        # `files_file.owner_id` alone loses its index: `(owner_id, deleted_at)` serves every
        # lookup by owner, and the planner preferred the lone one for counting a big user's
        # matches, reading each from the table, to the search btree's index-only scan.
        migrations.AlterField(
            model_name="file",
            name="owner",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="files",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
    ]
