"""The periodic jobs at scale (issue 14): on a database built by bench/scale.py, make a backlog
for each job with a few UPDATE/INSERT statements, then run each job's beat task in-process, run
after run as beat would, until its backlog is gone; prints per run the wall time, the rows
handled, the queries, the peak RSS growth and the load average, then a summary.

    createdb -h 127.0.0.1 -U postgres -T scale_1m h_jobbench_1m   # a copy: the bench changes it
    python bench/jobs.py --db h_jobbench_1m                        # 80,000 expired trash files
    dropdb -h 127.0.0.1 -U postgres h_jobbench_1m

See bench/README.md. The database is changed for good (backlog made, then purged): run it on a
copy, never on the database you measure with bench/scale.py. Blobs have fake storage keys and
no objects: the storage is a throwaway local directory, so purging deletes objects that are
not there (which the local store treats as done).
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG = "postgres://postgres@127.0.0.1:5432/"
SIDE_BACKLOG = 10_000  # rows made for each of the other jobs
EXPLAINED = 3  # queries explained per job: the first SELECTs of its empty run (not the cache)


def memory_kb(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def reset_peak() -> None:
    """Set VmHWM back to the current RSS (Linux 4.0+), so each run's peak is its own."""
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")


def load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


class Queries:
    """Counts the queries sent (an execute_wrapper; stores only the first few SQL strings)."""

    def __init__(self, keep: int = 0):
        self.count = 0
        self.keep = keep
        self.selects: list[tuple[str, tuple]] = []

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        finder = sql.lstrip().upper().startswith("SELECT") and "locker_cache" not in sql
        if len(self.selects) < self.keep and finder:
            self.selects.append((sql, params))
        return execute(sql, params, many, context)


def make_backlog(n: int) -> dict[str, str]:
    """One statement per job: what each finds as its work. Returns what was made, per job."""
    from django.conf import settings
    from django.db import connection

    trash_days = settings.LOCKER_TRASH_DAYS
    audit_days = settings.LOCKER_AUDIT_DAYS
    grace = settings.LOCKER_ORPHAN_GRACE_HOURS
    made = {}
    with connection.cursor() as cur:
        # Trash: the newest live files (the filler users'), trashed one by one as
        # files.services.file_trash does (deleted_at, trash_root NULL, trashed_as_root), each a
        # second apart, more than LOCKER_TRASH_DAYS ago. Their folders stay live.
        cur.execute(
            "UPDATE files_file f SET deleted_at = now() - make_interval(days => %s + 1)"
            " - make_interval(secs => f.id %% 100000), trash_root_id = NULL,"
            " trashed_as_root = true"
            " WHERE f.id IN (SELECT id FROM files_file WHERE deleted_at IS NULL"
            " ORDER BY id DESC LIMIT %s)",
            [trash_days, n],
        )
        made["purge_trash"] = f"{cur.rowcount:,} files trashed {trash_days + 1}+ days ago"
        # bench/scale.py's blobs have keys the storage refuses ("bench/…"): give the purged
        # ones well-formed keys (32 hex characters) with no object, a missing object for real.
        cur.execute(
            "UPDATE files_blob b SET storage_key = md5('jobbench' || b.id) FROM files_file f"
            " WHERE f.blob_id = b.id AND f.trashed_as_root AND f.deleted_at < now() - "
            "make_interval(days => %s)",
            [trash_days],
        )
        # Requeue: live files whose processing has been due for a day (a lost task).
        cur.execute(
            "UPDATE files_file SET processing_due_at = now() - interval '1 day' WHERE id IN"
            " (SELECT id FROM files_file WHERE deleted_at IS NULL ORDER BY id LIMIT %s)",
            [SIDE_BACKLOG],
        )
        made["requeue_pending"] = f"{cur.rowcount:,} files due a day ago"
        # Share cleanup: links that expired yesterday (not quick sends: marked handled only).
        cur.execute(
            "UPDATE sharing_sharelink SET expires_at = now() - interval '1 day' WHERE id IN"
            " (SELECT id FROM sharing_sharelink WHERE cleaned_at IS NULL ORDER BY id LIMIT %s)",
            [SIDE_BACKLOG],
        )
        made["cleanup_shares"] = f"{cur.rowcount:,} links expired yesterday"
        # Audit pruning: events older than LOCKER_AUDIT_DAYS.
        cur.execute(
            "INSERT INTO accounts_auditevent (created_at, actor_label, action, target_type,"
            " target_id, target_label, result, extra)"
            " SELECT now() - make_interval(days => %s + 1) - make_interval(secs => g), 'bench',"
            " 'file.purged', 'file', g::text, 'bench', 'ok', '{}'::jsonb"
            " FROM generate_series(1, %s) g",
            [audit_days, n],
        )
        made["prune_audit"] = f"{cur.rowcount:,} events {audit_days + 1}+ days old"
        # Orphan cleanup: complete blobs nothing references, older than the grace period.
        cur.execute(
            "INSERT INTO files_blob (storage_key, master_key_id, wrapped_key, segment_size, size,"
            " state, created_at, completed_at)"
            " SELECT md5('jobbench-orphan' || g), 'bench', '\\x', 65536, 1000, 'complete',"
            " now() - make_interval(hours => %s + 1), now() - make_interval(hours => %s + 1)"
            " FROM generate_series(1, %s) g",
            [grace, grace, SIDE_BACKLOG],
        )
        made["cleanup_orphaned_objects"] = f"{cur.rowcount:,} unreferenced complete blobs"
        # Partial uploads: blobs left `writing` by a dead writer (no holder), two days old.
        cur.execute(
            "INSERT INTO files_blob (storage_key, master_key_id, wrapped_key, segment_size, size,"
            " state, created_at)"
            " SELECT md5('jobbench-writing' || g), 'bench', '\\x', 65536, 0, 'writing',"
            " now() - interval '2 days' FROM generate_series(1, %s) g",
            [SIDE_BACKLOG],
        )
        made["cleanup_partial_uploads"] = f"{cur.rowcount:,} abandoned writing blobs"
        cur.execute("ANALYZE")
    return made


def rows_of(result) -> int:
    if isinstance(result, dict):
        return sum(value for value in result.values() if isinstance(value, int))
    return int(result or 0)


def jobs() -> dict:
    """The beat schedule's tasks (locker/settings.py CELERY_BEAT_SCHEDULE), called in-process."""
    from accounts.tasks import prune_audit
    from files.tasks import cleanup_partial_uploads, purge_trash, requeue_pending
    from sharing.tasks import cleanup_shares
    from storage.cleanup import _SCAN_CURSOR
    from storage.tasks import cleanup_orphaned_objects

    def walking() -> bool:  # the unreferenced-blob walk stopped midway: the next run goes on
        return _SCAN_CURSOR.get() is not None

    never = bool
    return {
        "purge_trash": (purge_trash, never),
        "requeue_pending": (requeue_pending, never),
        "cleanup_shares": (cleanup_shares, never),
        "prune_audit": (prune_audit, never),
        "cleanup_orphaned_objects": (cleanup_orphaned_objects, walking),
        "cleanup_partial_uploads": (cleanup_partial_uploads, never),
    }


def one_run(task, keep: int = 0) -> dict:
    from django.db import connection

    queries = Queries(keep)
    rss = memory_kb("VmRSS")
    reset_peak()
    start = time.perf_counter()
    with connection.execute_wrapper(queries):
        result = task()
    wall = time.perf_counter() - start
    return {
        "wall": wall,
        "rows": rows_of(result),
        "result": result,
        "queries": queries.count,
        "rss_mb": max(0, memory_kb("VmHWM") - rss) / 1024,
        "load": load(),
        "selects": queries.selects,
    }


def explain(selects) -> None:
    from django.db import connection, transaction

    for sql, params in selects:
        print(f"    -- {sql[:200]}{'…' if len(sql) > 200 else ''}")
        try:
            with transaction.atomic(), connection.cursor() as cur:
                cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
                for (line,) in cur.fetchall():
                    print(f"       {line}")
                transaction.set_rollback(True)
        except Exception as exc:  # noqa: BLE001 - a plan we cannot show is reported, not fatal
            print(f"       (no plan: {exc})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, help="a database the bench may change (a copy)")
    parser.add_argument("--backlog", type=int, default=80_000, help="expired trash files (80000)")
    parser.add_argument("--runs", type=int, default=30, help="most runs per job (30)")
    parser.add_argument("--only", default="", help="comma-separated job names (default: all)")
    parser.add_argument("--no-explain", action="store_true", help="skip the EXPLAIN of finders")
    args = parser.parse_args()
    data = tempfile.mkdtemp(prefix="locker-jobbench-")
    os.environ["DATABASE_URL"] = PG + args.db
    os.environ["LOCKER_DATA_DIR"] = data  # objects, temp files: a throwaway directory
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "locker.settings")
    # Requeue's 10,000 messages go to a broker no worker reads (in the throwaway directory),
    # and the jobs' cursors to the copy's own cache table.
    os.environ["CELERY_BROKER_URL"] = "filesystem://"
    os.environ["LOCKER_CACHE_URL"] = "db"
    sys.path.insert(0, str(ROOT))
    import django

    try:
        django.setup()
        run_all(args, data)
    finally:
        shutil.rmtree(data, ignore_errors=True)


def run_all(args, data: str) -> None:
    from django.conf import settings
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("createcachetable", verbosity=0)
    chosen = jobs()
    if args.only:
        chosen = {name: chosen[name] for name in args.only.split(",")}
    print(
        f"db {args.db}, batch {settings.LOCKER_JOB_BATCH_SIZE}, budget "
        f"{settings.LOCKER_JOB_TIME_BUDGET:.0f} s, soft limit "
        f"{settings.CELERY_TASK_SOFT_TIME_LIMIT:.0f} s, data {data}, "
        f"broker {settings.CELERY_BROKER_URL}, cache {settings.CACHES['default']['BACKEND']}"
    )
    print(f"load average {load()}")

    print("\nNo backlog: one run each (the cost of finding no work)")
    empty = {}
    for name, (task, _more) in chosen.items():
        run = one_run(task, keep=0 if args.no_explain else EXPLAINED)
        empty[name] = run
        print(
            f"  {name:26} {run['wall'] * 1000:9.1f} ms {run['queries']:6} queries "
            f"rows {run['rows']:>6}  load {run['load']}"
        )
        if not args.no_explain:
            explain(run["selects"])
        # A walk that does not finish in one run is not "no work": let it finish first.
        while _more():
            one_run(task)

    start = time.perf_counter()
    made = make_backlog(args.backlog)
    print(f"\nBacklog made in {time.perf_counter() - start:.1f} s:")
    for name, what in made.items():
        print(f"  {name:26} {what}")

    summary = []
    for name, (task, more) in chosen.items():
        print(f"\n{name}")
        runs = []
        while len(runs) < args.runs:
            run = one_run(task)
            runs.append(run)
            print(
                f"  run {len(runs):2}: {run['wall']:8.2f} s  rows {run['rows']:>7,}  "
                f"queries {run['queries']:>6,}  RSS +{run['rss_mb']:6.1f} MB  "
                f"load {run['load']}  {run['result']}"
            )
            if run["rows"] == 0 and not more():
                break
        # Per-run times of the runs that found work (the last, empty one is in its own column).
        walls = [run["wall"] for run in runs if run["rows"]] or [runs[0]["wall"]]
        summary.append(
            (
                name,
                len(runs),
                sum(run["rows"] for run in runs),
                statistics.median(walls),
                max(walls),
                max(run["queries"] for run in runs),
                max(run["rss_mb"] for run in runs),
                empty[name]["wall"],
                empty[name]["queries"],
            )
        )

    print(f"\nSummary (db {args.db}, backlog {args.backlog:,}, load average {load()})")
    print(
        "| job | runs | rows | p50 / max wall of a run with work | queries per run (max) "
        "| max RSS growth | empty run |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, count, rows, p50, worst, queries, rss, empty_wall, empty_queries in summary:
        print(
            f"| {name} | {count} | {rows:,} | {p50:.2f} / {worst:.2f} s | {queries:,} "
            f"| +{rss:.1f} MB | {empty_wall * 1000:.1f} ms, {empty_queries} queries |"
        )


if __name__ == "__main__":
    main()
