"""The share cleanup at scale: dead links found through partial indexes of unhandled links (never
the live ones), handled LOCKER_JOB_BATCH_SIZE at a time with the same queries whatever the
backlog, a time budget per run, and two runs at once handling each link once."""

import secrets
import threading
from datetime import timedelta

import pytest
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from sharing.models import ShareAccess, ShareLink
from sharing.services import _dead_links_batch, shares_cleanup

BATCH = 4


@pytest.fixture
def small_batches(settings):
    settings.LOCKER_JOB_BATCH_SIZE = BATCH


def _links(owner, file, count: int, **fields) -> list[ShareLink]:
    return ShareLink.objects.bulk_create(
        ShareLink(owner=owner, file=file, token_hash=secrets.token_hex(32), **fields)
        for _ in range(count)
    )


def _expired(owner, file, count: int) -> list[ShareLink]:
    return _links(owner, file, count, expires_at=timezone.now() - timedelta(hours=1))


def _one_batch(settings) -> tuple[int, int]:
    settings.LOCKER_JOB_TIME_BUDGET = 0
    with CaptureQueriesContext(connection) as queries:
        handled = shares_cleanup()["links"]
    return handled, len(queries)


def test_queries_per_batch_do_not_grow_with_the_backlog(alice, report, settings, small_batches):
    _links(alice, report, 50, expires_at=timezone.now() + timedelta(days=7))  # live: never read
    _expired(alice, report, 10)
    small = _one_batch(settings)
    _expired(alice, report, 1200)
    large = _one_batch(settings)
    assert small == large
    assert small[0] == BATCH


def test_every_kind_of_dead_link_is_handled_across_runs_and_live_ones_are_left(
    alice, report, settings, small_batches
):
    live = _links(alice, report, 3, expires_at=timezone.now() + timedelta(days=7))
    live += _links(alice, report, 2, max_downloads=3, download_count=2)
    dead = _expired(alice, report, 5)
    dead += _links(alice, report, 3, revoked_at=timezone.now())
    dead += _links(alice, report, 3, max_downloads=2, download_count=2)
    settings.LOCKER_JOB_TIME_BUDGET = 0  # one batch a run
    runs = []
    while handled := shares_cleanup()["links"]:
        runs.append(handled)
    assert runs == [BATCH, BATCH, BATCH - 1]
    unhandled = set(ShareLink.objects.filter(cleaned_at__isnull=True).values_list("pk", flat=True))
    assert unhandled == {link.pk for link in live}
    assert ShareLink.objects.filter(pk__in=[link.pk for link in dead], cleaned_at=None).count() == 0


def test_a_run_with_time_left_handles_the_whole_backlog_and_prunes_logs(
    alice, report, settings, small_batches
):
    settings.LOCKER_JOB_TIME_BUDGET = 3600
    settings.LOCKER_ACCESS_LOG_DAYS = 30
    links = _expired(alice, report, 5 * BATCH)
    ShareAccess.objects.bulk_create(
        ShareAccess(share=links[0], at=timezone.now() - timedelta(days=40)) for _ in range(9)
    )
    recent = ShareAccess.objects.create(share=links[0])
    result = shares_cleanup()
    assert (result["links"], result["accesses_pruned"]) == (5 * BATCH, 9)
    assert list(ShareAccess.objects.all()) == [recent]


def test_an_exhausted_budget_still_prunes_one_batch_of_logs(alice, report, settings, small_batches):
    settings.LOCKER_JOB_TIME_BUDGET = 0
    settings.LOCKER_ACCESS_LOG_DAYS = 30
    links = _expired(alice, report, 2 * BATCH)
    ShareAccess.objects.bulk_create(
        ShareAccess(share=links[0], at=timezone.now() - timedelta(days=40)) for _ in range(9)
    )
    assert shares_cleanup()["accesses_pruned"] == BATCH
    assert shares_cleanup()["accesses_pruned"] == BATCH
    assert shares_cleanup()["accesses_pruned"] == 1


def _plan(query) -> str:
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL enable_seqscan = off")  # a tiny table would be scanned
        return query.explain()


def test_dead_links_are_found_through_the_partial_indexes(db):
    now = timezone.now()
    with CaptureQueriesContext(connection) as queries:
        _dead_links_batch(now, BATCH)
    assert len(queries) == 3
    plans = []
    for query in queries.captured_queries:
        with transaction.atomic(), connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("SET LOCAL enable_seqscan = off")
                cursor.execute("EXPLAIN " + query["sql"])
            else:
                cursor.execute("EXPLAIN QUERY PLAN " + query["sql"])
            plans.append(" ".join(str(row) for row in cursor.fetchall()))
    for plan, index in zip(
        plans,
        [
            "sharing_link_expiry_unhandled",
            "sharing_link_revoked_unhandled",
            "sharing_link_used_up_unhandled",
        ],
        strict=True,
    ):
        assert index in plan, plan


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="runs at once need row locks (SKIP LOCKED): PostgreSQL, which CI runs",
)
@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_handle_each_link_once(alice, report, settings, small_batches):
    dead = _expired(alice, report, 10 * BATCH)
    settings.LOCKER_JOB_TIME_BUDGET = 3600
    start = threading.Barrier(2)
    handled: list[int] = []

    def run():
        try:
            start.wait()
            handled.append(shares_cleanup()["links"])
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # A run that finds a whole batch held by the other stops and leaves the rest to it (or to
    # the next run): together they never handle a link twice, and a last run finishes.
    handled.append(shares_cleanup()["links"])
    assert sum(handled) == len(dead)
    assert not ShareLink.objects.filter(cleaned_at__isnull=True).exists()
