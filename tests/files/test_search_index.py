"""Name search served by indexes of live rows (files.0013: a trigram GIN index on PostgreSQL, a
btree in name order on every database), the same answers on every database; and the partial
index that serves a folder's first listing page."""

import pytest
from django.db import connection, transaction
from django.db.migrations.executor import MigrationExecutor

from files.models import File
from files.selectors import file_list, folder_list
from tests.fixtures.files import make_file, make_folder

TRGM_INDEXES = {
    "files_file": "files_file_live_name_trgm",
    "files_folder": "files_folder_live_name_trgm",
}
ORDER_INDEXES = {
    "files_file": "files_file_live_by_owner",
    "files_folder": "files_folder_live_by_owner",
}
# What files.0013 replaced: files.0011's GIN indexes (PostgreSQL) and files.0001's btrees.
REPLACED = {
    "files_file": ("files_file_name_search_trgm", "files_file_owner_i_424e14_idx"),
    "files_folder": ("files_folder_name_search_trgm", "files_folde_owner_i_6db037_idx"),
}


def postgresql() -> bool:
    return connection.vendor == "postgresql"


def indexes_of(table: str) -> dict[str, str]:
    """Index name → definition (PostgreSQL)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s", [table])
        return dict(cursor.fetchall())


def index_names(table: str) -> set[str]:
    with connection.cursor() as cursor:
        return set(connection.introspection.get_constraints(cursor, table))


def plan(queryset) -> str:
    return queryset.explain()


def drop_indexes_but(keep: dict[str, str], cursor) -> None:
    """Every index of the two tables goes but `keep`'s and the plain unique ones, which no search
    can use (call it inside a transaction that the test rolls back)."""
    for table, kept in keep.items():
        for name, definition in indexes_of(table).items():
            if name != kept and ("UNIQUE" not in definition or "WHERE" in definition):
                cursor.execute(f'DROP INDEX "{name}"')


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
def test_the_search_indexes_hold_live_rows_only(db):
    for table in TRGM_INDEXES:
        assert not set(REPLACED[table]) & index_names(table)
    if not postgresql():
        # No trigram index elsewhere; the btree in name order is there, and search (above) works.
        for table, name in TRGM_INDEXES.items():
            assert name not in index_names(table)
            assert ORDER_INDEXES[table] in index_names(table)
        return
    for table, name in TRGM_INDEXES.items():
        definition = indexes_of(table).get(name, "")
        assert "USING gin (owner_id, name_key gin_trgm_ops)" in definition, definition
        assert definition.endswith("WHERE (deleted_at IS NULL)"), definition
        ordered = indexes_of(table)[ORDER_INDEXES[table]]
        assert "btree (owner_id, name_key, name, id) WHERE (deleted_at IS NULL)" in ordered


def _search_querysets(user):
    return (
        ("files_file", file_list(user=user, folder=None, search="report")),
        ("files_folder", folder_list(user=user, parent=None, search="report")),
    )


@pytest.mark.django_db
def test_a_search_can_be_served_by_the_trigram_index(lockers):
    """With every other way to read the table out of reach (inside this test's transaction,
    rolled back), the planner can still answer the search: from the trigram index, with the
    owner's id in its conditions (sent as a bigint; an int4 would leave it to a filter)."""
    if not postgresql():
        assert "name_key" in str(file_list(user=lockers, folder=None, search="x").query)
        return
    with transaction.atomic(), connection.cursor() as cursor:
        drop_indexes_but(TRGM_INDEXES, cursor)
        cursor.execute("SET LOCAL enable_seqscan = off")
        for table, queryset in _search_querysets(lockers):
            shown = plan(queryset)
            assert f"Bitmap Index Scan on {TRGM_INDEXES[table]}" in shown, shown
            cond = shown.split(f"Bitmap Index Scan on {TRGM_INDEXES[table]}")[1]
            assert "owner_id = " in cond.split("\n")[1] and "~~" in cond.split("\n")[1], shown
        transaction.set_rollback(True)


@pytest.mark.django_db
def test_a_search_can_walk_the_owners_live_names_in_order(lockers):
    """The other shape (a term most names hold, or one too short for trigrams): the owner's
    live rows read in page order from the btree, the term checked on the way, no sort."""
    if not postgresql():
        return
    with transaction.atomic(), connection.cursor() as cursor:
        drop_indexes_but(ORDER_INDEXES, cursor)
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        for table, queryset in _search_querysets(lockers):
            shown = plan(queryset[:50])
            assert f"Index Scan using {ORDER_INDEXES[table]}" in shown, shown
            assert "Index Cond: (owner_id = " in shown, shown
            assert "Sort" not in shown, shown
        transaction.set_rollback(True)


def _applied_indexes() -> dict[str, set[str]]:
    return {table: index_names(table) for table in TRGM_INDEXES}


def _lone_owner_index(table: str) -> bool:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
    return any(
        info["index"] and not info["unique"] and info["columns"] == ["owner_id"]
        for info in constraints.values()
    )


@pytest.mark.django_db(transaction=True)
def test_the_search_index_migration_reverses_and_applies_again(db):
    """files.0013 back to 0012 brings back the indexes it replaced (and the lone index on
    `files_file.owner_id`), and forward again the new ones (CONCURRENTLY on PostgreSQL: outside
    any transaction, hence a transactional test)."""
    before = ("files", "0012_live_listing_indexes")
    executor = MigrationExecutor(connection)
    try:
        executor.migrate([before])
        back = _applied_indexes()
        assert _lone_owner_index("files_file")
    finally:
        # Forward to every app's newest migration, as the other tests expect: going back to
        # files.0012 also unapplied the other apps' migrations that depend on a later one.
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
    again = _applied_indexes()
    # `(owner_id, deleted_at)` serves lookups by owner; files_folder keeps its own.
    assert not _lone_owner_index("files_file") and _lone_owner_index("files_folder")
    for table in TRGM_INDEXES:
        gin, btree = REPLACED[table]
        assert btree in back[table] and ORDER_INDEXES[table] not in back[table]
        assert ORDER_INDEXES[table] in again[table] and btree not in again[table]
        if postgresql():
            assert gin in back[table] and TRGM_INDEXES[table] not in back[table]
            assert TRGM_INDEXES[table] in again[table] and gin not in again[table]


@pytest.mark.django_db
def test_search_takes_like_wildcards_and_the_escape_literally(alice):
    """`%`, `_` and `\\` are LIKE's wildcards and escape: in a search they are characters, in
    a term that LIKE answers (three letters or digits in a row) and in one it does not."""
    for name in (
        "100% done.txt",
        "100 done.txt",
        "abc_def.txt",
        "abcxdef.txt",
        "back\\slash.txt",
        "backslash.txt",
    ):
        make_file(alice, name)
    make_folder(alice, "50%_off")
    make_folder(alice, "50 off")

    def names(term):
        return [f.name for f in file_list(user=alice, folder=None, search=term)]

    # LIKE (a trigram in the term)
    assert names("100%") == ["100% done.txt"]
    assert names("abc_d") == ["abc_def.txt"]
    assert names("back\\s") == ["back\\slash.txt"]
    assert names("done\\%") == []
    # strpos (no trigram)
    assert names("%") == ["100% done.txt"]
    assert names("0%") == ["100% done.txt"]
    assert names("_") == ["abc_def.txt"]
    assert names("c_") == ["abc_def.txt"]
    assert names("\\") == ["back\\slash.txt"]
    assert names("k\\s") == ["back\\slash.txt"]
    assert names("\\%") == []
    assert [f.name for f in folder_list(user=alice, parent=None, search="%_")] == ["50%_off"]
    assert [f.name for f in folder_list(user=alice, parent=None, search="50%_o")] == ["50%_off"]


@pytest.mark.django_db
def test_a_term_without_a_trigram_is_kept_from_the_trigram_index(lockers):
    """pg_trgm finds nothing to look up in `re` or `a.b`: its GIN index would read every entry
    of the column. Such a term goes to the owner's btree, even with no other way open."""
    if not postgresql():
        assert "LIKE" not in str(file_list(user=lockers, folder=None, search="re").query)
        return
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        for term in ("re", "t.p", "%"):
            for table, queryset in (
                ("files_file", file_list(user=lockers, folder=None, search=term)),
                ("files_folder", folder_list(user=lockers, parent=None, search=term)),
            ):
                shown = plan(queryset[:50])
                assert TRGM_INDEXES[table] not in shown, shown
                assert f"Index Scan using {ORDER_INDEXES[table]}" in shown, shown
        transaction.set_rollback(True)


@pytest.mark.django_db
def test_search_for_one_or_two_characters_is_right_and_scoped(alice, bob):
    """Terms too short for a trigram: the same answers, case-folded, the owner's live names only."""
    make_file(alice, "Quarterly.pdf")
    make_file(alice, "notes.txt")
    make_file(alice, "ÄQ.txt")
    make_file(bob, "q-bob.txt")
    gone = make_file(alice, "quiz.txt")
    File.objects.filter(pk=gone.pk).update(deleted_at=gone.created_at)

    def names(term):
        return [f.name for f in file_list(user=alice, folder=None, search=term)]

    # Sorted here: where "Ä" sorts depends on the database's collation.
    assert sorted(names("q")) == ["Quarterly.pdf", "ÄQ.txt"]
    assert sorted(names("Q")) == sorted(names("q"))
    assert names("äq") == ["ÄQ.txt"]
    assert names("no") == ["notes.txt"]
    assert names("zz") == []
    assert [f.name for f in file_list(user=bob, folder=None, search="q")] == ["q-bob.txt"]


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
        # On tables this small, the owner's btree in name order (files.0013) looks as good to
        # the planner (the folder holds all of alice's files): out of its reach here.
        for name in ORDER_INDEXES.values():
            cursor.execute(f'DROP INDEX "{name}"')
        cursor.execute("SET LOCAL enable_seqscan = off")
        for queryset, index in (
            (first_files, "files_file_live_listing"),
            (first_folders, "files_folder_live_listing"),
        ):
            shown = plan(queryset)
            assert f"Index Scan using {index}" in shown, shown
            assert "Sort" not in shown, shown
        transaction.set_rollback(True)


@pytest.mark.django_db
def test_locker_connections_to_postgresql_run_without_jit(db):
    """JIT compilation costs tens of milliseconds on a search or count over a big locker and
    never pays back on queries that run for milliseconds (docs/architecture.md, "No JIT")."""
    if not postgresql():
        assert "options" not in connection.settings_dict.get("OPTIONS", {})
        return
    with connection.cursor() as cursor:
        cursor.execute("SHOW jit")
        assert cursor.fetchone() == ("off",)
