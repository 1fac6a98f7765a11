"""Emptying a big trash: batches of LOCKER_JOB_BATCH_SIZE files, each in its own transaction
with the quota it frees, the same queries per batch whatever the batch holds, the request
answering 202 once LOCKER_TRASH_EMPTY_REQUEST_BUDGET is spent while a task goes on, and a trash
left consistent by an interruption or by two emptyings at once."""

import threading
from functools import partial

import pytest
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext

from accounts.models import AuditEvent
from files import services
from files.models import File, Folder
from locker.jobs import JobRun
from tests.files.test_trash_purge_batches import _live_sum, _trashed_backlog
from tests.fixtures.files import make_file, make_folder

BATCH = 4


@pytest.fixture
def small_batches(settings):
    settings.LOCKER_JOB_BATCH_SIZE = BATCH


def _trash(user, *, files: int, in_folder: int) -> Folder:
    """`files` trashed files of their own, and a trashed folder holding `in_folder` files."""
    _trashed_backlog(user, files)
    folder = make_folder(user, "old stuff")
    services.folder_trash(folder=folder)
    folder.refresh_from_db()
    _trashed_backlog(user, in_folder, folder=folder)
    return folder


def _used(user) -> int:
    user.refresh_from_db()
    return user.used_bytes


def test_a_big_trash_answers_202_and_the_rest_is_emptied_in_the_background(
    alice, alice_api, settings, small_batches, eager_celery
):
    keep = make_file(alice, "keep.txt", b"kept")
    folder = _trash(alice, files=3 * BATCH, in_folder=2 * BATCH)
    settings.LOCKER_TRASH_EMPTY_REQUEST_BUDGET = 0  # one batch in the request
    settings.LOCKER_JOB_TIME_BUDGET = 0  # one batch a task, which queues the next
    response = alice_api.delete("/api/v1/trash/")
    assert response.status_code == 202
    assert response.json() == {
        "deleted_files": BATCH,
        "detail": "The rest of the trash is being emptied in the background.",
    }
    assert list(File.objects.all()) == [keep]
    assert not Folder.objects.filter(pk=folder.pk).exists()
    assert _used(alice) == _live_sum(alice) == 4
    assert AuditEvent.objects.filter(action="file.purged").count() == 3 * BATCH + 1


def test_a_trash_emptied_within_the_request_answers_200(alice, alice_api, small_batches):
    _trash(alice, files=3 * BATCH, in_folder=BATCH + 1)
    response = alice_api.delete("/api/v1/trash/")
    assert response.status_code == 200
    assert response.json() == {"deleted_files": 4 * BATCH + 1}
    assert not File.objects.exists()
    assert _used(alice) == 0


def test_queries_per_batch_do_not_grow_with_the_trash(alice, bob, small_batches):
    _trash(alice, files=10, in_folder=0)
    _trash(bob, files=1200, in_folder=0)
    counts = []
    for user in (alice, bob):
        with CaptureQueriesContext(connection) as queries:
            purged, more = services._purge_trash_batch(
                partial(services._user_trash, user=user), BATCH
            )
        assert (purged, more) == (BATCH, True)
        counts.append(len(queries))
    assert counts[0] == counts[1]


def test_an_emptying_costs_the_same_queries_whatever_its_batches_hold(alice, bob, settings):
    """The same trash, three times as many files in each place: as many batches, as many
    queries (below Django's own split of a DELETE at 100 rows)."""
    counts = []
    for user, batch in ((alice, 3), (bob, 90)):
        settings.LOCKER_JOB_BATCH_SIZE = batch
        _trash(user, files=2 * batch, in_folder=2 * batch)
        with CaptureQueriesContext(connection) as queries:
            emptied = services.trash_empty(user=user, run=JobRun(budget=3600))
        assert emptied == services.TrashEmptied(deleted_files=4 * batch, continues=False)
        counts.append(len(queries))
    assert counts[0] == counts[1]


def test_only_the_users_own_trash_is_emptied(alice, bob, small_batches):
    _trash(alice, files=BATCH, in_folder=BATCH)
    _trash(bob, files=2, in_folder=1)
    bob_used = _used(bob)
    assert services.trash_empty(user=alice).deleted_files == 2 * BATCH
    assert File.objects.filter(owner=bob).count() == 3
    assert _used(bob) == bob_used


def test_an_emptying_interrupted_mid_batch_leaves_the_rest_in_the_trash(
    alice, alice_api, small_batches, monkeypatch
):
    """The second batch fails half-way (after its rows were deleted, before its audit rows):
    the first batch is gone for good, the second is rolled back whole, and what is left is
    still listed in the trash and counted in the quota."""
    make_file(alice, "keep.txt", b"kept")
    _trash(alice, files=3 * BATCH, in_folder=0)
    audit_many = services.audit_many
    calls = []

    def audit_lost_the_second_time(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise ConnectionError("the database went away in the middle of the batch")
        return audit_many(*args, **kwargs)

    monkeypatch.setattr(services, "audit_many", audit_lost_the_second_time)
    with pytest.raises(ConnectionError):
        services.trash_empty(user=alice, run=JobRun(budget=3600))
    monkeypatch.undo()
    assert File.objects.filter(deleted_at__isnull=False).count() == 2 * BATCH
    assert _used(alice) == _live_sum(alice) == 4 + 2 * BATCH * 7
    assert alice_api.get("/api/v1/trash/?page=1").json()["count"] == 2 * BATCH + 1  # and the folder
    assert services.trash_empty(user=alice).deleted_files == 2 * BATCH
    assert _used(alice) == _live_sum(alice) == 4


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="emptyings at once need row locks (SKIP LOCKED): PostgreSQL, which CI runs",
)
@pytest.mark.django_db(transaction=True)
def test_two_emptyings_at_once_delete_each_file_once(alice, small_batches):
    make_file(alice, "alive.txt", b"alive")
    _trash(alice, files=10 * BATCH, in_folder=5 * BATCH)
    start = threading.Barrier(2)
    deleted: list[int] = []
    errors: list[BaseException] = []

    def empty():
        try:
            start.wait()
            deleted.append(services.trash_empty(user=alice, run=JobRun(budget=3600)).deleted_files)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=empty) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sum(deleted) == 15 * BATCH
    assert list(File.objects.values_list("name", flat=True)) == ["alive.txt"]
    assert not Folder.objects.filter(deleted_at__isnull=False).exists()
    assert AuditEvent.objects.filter(action="file.purged").count() == 10 * BATCH + 1
    assert _used(alice) == _live_sum(alice) == 5
