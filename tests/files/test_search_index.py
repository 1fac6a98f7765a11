"""Name search served by a trigram index on PostgreSQL (files.0011), the same answers on every
database; and the partial index that serves a folder's first listing page."""

import pytest
from django.db import connection, transaction

from files.models import File
from files.selectors import file_list, folder_list
from tests.fixtures.files import make_file, make_folder

TRGM_INDEXES = {
    "files_file": "files_file_name_search_trgm",
    "files_folder": "files_folder_name_search_trgm",
}


def postgresql() -> bool:
    return connection.vendor == "postgresql"


def indexes_of(table: str) -> dict[str, str]:
    """Index name → definition (PostgreSQL)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s", [table])
        return dict(cursor.fetchall())


def plan(queryset) -> str:
    return queryset.explain()


@pytest.fixture
def lockers(alice, bob):
    make_file(alice, "Quarterly REPORT.pdf")
    make_file(alice, "holiday.jpg")
    reports = make_folder(alice, "Reports 2026")
    make_file(alice, "draft report.txt", folder=reports)
    make_folder(alice, "Photos")
    make_file(bob, "report of bob.txt")
    make_folder(bob, "bob reports")
    trashed = make_file(alice, "old report.txt")
    File.objects.filter(pk=trashed.pk).update(deleted_at=trashed.created_at)
    return alice


@pytest.mark.django_db
def test_search_finds_the_same_names_on_every_database(lockers):
    alice = lockers
    files = [f.name for f in file_list(user=alice, folder=None, search="RePoRt")]
    folders = [f.name for f in folder_list(user=alice, parent=None, search="report")]
    assert files == ["draft report.txt", "Quarterly REPORT.pdf"]
    assert folders == ["Reports 2026"]
    assert [f.name for f in file_list(user=alice, folder=None, search="%")] == []
    assert [f.name for f in folder_list(user=alice, parent=None, search="zzz")] == []


@pytest.mark.django_db
def test_the_trigram_index_exists_on_postgresql_only(db):
    if not postgresql():
        # The migration is a no-op elsewhere: nothing to find, and search (above) still works.
        with connection.cursor() as cursor:
            names = [
                index
                for table in TRGM_INDEXES
                for index in connection.introspection.get_constraints(cursor, table)
            ]
        assert not set(TRGM_INDEXES.values()) & set(names)
        return
    for table, name in TRGM_INDEXES.items():
        definition = indexes_of(table).get(name, "")
        assert "USING gin (owner_id, name_key gin_trgm_ops)" in definition, definition


@pytest.mark.django_db
def test_a_search_can_be_served_by_the_trigram_index(lockers):
    """With every other way to read the table out of reach (inside this test's transaction,
    rolled back), the planner can still answer the search: from the trigram index, with the
    owner's id in its conditions (sent as a bigint; an int4 would leave it to a filter)."""
    if not postgresql():
        assert "name_key" in str(file_list(user=lockers, folder=None, search="x").query)
        return
    with transaction.atomic(), connection.cursor() as cursor:
        for table, keep in TRGM_INDEXES.items():
            for name, definition in indexes_of(table).items():
                if name != keep and ("UNIQUE" not in definition or "WHERE" in definition):
                    cursor.execute(f'DROP INDEX "{name}"')
        cursor.execute("SET LOCAL enable_seqscan = off")
        for table, queryset in (
            ("files_file", file_list(user=lockers, folder=None, search="report")),
            ("files_folder", folder_list(user=lockers, parent=None, search="report")),
        ):
            shown = plan(queryset)
            assert f"Bitmap Index Scan on {TRGM_INDEXES[table]}" in shown, shown
            cond = shown.split(f"Bitmap Index Scan on {TRGM_INDEXES[table]}")[1]
            assert "owner_id = " in cond.split("\n")[1] and "~~" in cond.split("\n")[1], shown
        transaction.set_rollback(True)


@pytest.mark.django_db
def test_a_folders_first_page_is_read_in_order_from_the_listing_index(alice):
    """`(folder_id, name_key, name, id) WHERE deleted_at IS NULL`: the first page of a folder,
    by name, is an index range with a LIMIT, never every file sorted (PostgreSQL's plan;
    elsewhere, that the index is there)."""
    folder = make_folder(alice, "big")
    for number in range(30):
        make_file(alice, f"file {number:02}.txt", folder=folder)
        make_folder(alice, f"sub {number:02}", parent=folder)
    first_files = file_list(user=alice, folder=folder)[:10]
    first_folders = folder_list(user=alice, parent=folder)[:10]
    assert [f.name for f in first_files] == [f"file {n:02}.txt" for n in range(10)]
    assert [f.name for f in first_folders] == [f"sub {n:02}" for n in range(10)]
    if not postgresql():
        with connection.cursor() as cursor:
            for table, name in (
                ("files_file", "files_file_live_listing"),
                ("files_folder", "files_folder_live_listing"),
            ):
                assert name in connection.introspection.get_constraints(cursor, table)
        return
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        for queryset, index in (
            (first_files, "files_file_live_listing"),
            (first_folders, "files_folder_live_listing"),
        ):
            shown = plan(queryset)
            assert f"Index Scan using {index}" in shown, shown
            assert "Sort" not in shown, shown
