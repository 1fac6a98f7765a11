"""Name search served by an index on PostgreSQL: a trigram GIN index on the case-folded name,
scoped to the owner, for files and folders (docs/architecture.md, "Queries per request").

`pg_trgm` makes `name_key LIKE '%part%'` (what a search asks, `files.selectors`) an index
lookup; `btree_gin` lets the owner's id sit in the same GIN index, so a big user's search for a
common word reads that user's matches only. On SQLite (and any other database) this migration
does nothing: search works there by scanning, as before. The index is not in the models' state:
it is PostgreSQL's alone, and `makemigrations` has nothing to say about it.

The index is built CONCURRENTLY (the migration is not atomic), so a large locker keeps taking
uploads while it is built. When the database user may not create the extensions (both are
trusted extensions from PostgreSQL 13: the database's owner may), the migration says so and
goes on without the index: search stays right, only slower.
"""

import sys

from django.db import DatabaseError, migrations

INDEXES = {
    "files_file_name_search_trgm": "files_file",
    "files_folder_name_search_trgm": "files_folder",
}


def create_indexes(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        try:
            cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            cursor.execute("CREATE EXTENSION IF NOT EXISTS btree_gin")
        except DatabaseError as exc:
            sys.stderr.write(
                "files.0011: could not create the pg_trgm and btree_gin extensions "
                f"({exc}); name search works without its index, only slower. Create them as "
                "the database's owner, then `manage.py migrate files 0010` and `manage.py migrate` "
                "add it.\n"
            )
            return
        for name, table in INDEXES.items():
            cursor.execute(
                f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {table} "
                "USING gin (owner_id, name_key gin_trgm_ops)"
            )


def drop_indexes(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for name in INDEXES:
            cursor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("files", "0010_jobs_trash_expiry_indexes")]

    operations = [migrations.RunPython(create_indexes, drop_indexes)]
