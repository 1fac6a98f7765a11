"""Readiness probe: the database, the cache, content storage, free disk space and the broker.

The probes run at once, each in its own thread with short timeouts of its own, and the answer
waits for them at most DEADLINE seconds: a probe still running then counts as failing. So a
dead dependency that hangs (a host that drops packets) makes /healthz answer 503 within about
DEADLINE seconds, never hang, and one slow probe does not delay the others.
"""

from __future__ import annotations

import concurrent.futures
import logging
import os
import time

from django.conf import settings
from django.db import connections
from django.http import JsonResponse

from locker import __version__
from locker.env import parse_free_space
from locker.outages import RETRY_AFTER

logger = logging.getLogger(__name__)

DEADLINE = 2.0  # seconds for all probes together
PROBE_TIMEOUT = 1  # seconds: broker connection and socket timeouts


class LowDiskSpace(Exception):
    pass


def _check_database() -> None:
    # A thread of its own gets a connection of its own: close it, nobody else will.
    connection = connections["default"]
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    finally:
        connection.close()


def _check_cache() -> None:
    from django.core.cache import cache

    # A read: with the database cache on SQLite a write would queue behind the writers.
    cache.get("locker:healthz")


def _check_storage() -> None:
    from storage.backends import get_blobstore

    get_blobstore().check()


def local_directories() -> list[str]:
    """The local directories Locker writes to: the data dir and, on local storage, the objects."""
    directories = [str(settings.DATA_DIR)]
    storage = settings.STORAGES["default"]
    if storage["BACKEND"] == "django.core.files.storage.FileSystemStorage":
        directories.append(str(storage.get("OPTIONS", {}).get("location", "")))
    return [path for path in directories if path]


def _check_disk_space() -> None:
    min_bytes, min_percent = parse_free_space(settings.LOCKER_MIN_FREE_SPACE)
    seen: set[int] = set()
    for path in local_directories():
        try:
            stat = os.statvfs(path)
            device = os.stat(path).st_dev
        except FileNotFoundError:
            continue  # created on first use; the storage probe reports a directory it cannot
        if device in seen:
            continue
        seen.add(device)
        free = stat.f_bavail * stat.f_frsize
        total = stat.f_blocks * stat.f_frsize
        needed = max(min_bytes, int(total * min_percent / 100))
        if free < needed:
            raise LowDiskSpace(f"{path}: {free} bytes free, LOCKER_MIN_FREE_SPACE needs {needed}")


def _check_broker() -> None:
    from locker.celery import app

    with app.connection_for_write(
        connect_timeout=PROBE_TIMEOUT,
        transport_options={
            "socket_timeout": PROBE_TIMEOUT,
            "socket_connect_timeout": PROBE_TIMEOUT,
        },
    ) as conn:
        conn.ensure_connection(max_retries=0)  # one attempt, no retry delay


CHECKS = {
    "database": _check_database,
    "cache": _check_cache,
    "storage": _check_storage,
    "disk": _check_disk_space,
    "broker": _check_broker,
}

_pool: concurrent.futures.ThreadPoolExecutor | None = None
_pool_pid = 0


def _executor() -> concurrent.futures.ThreadPoolExecutor:
    """One small pool per process (created after gunicorn forks). It has room for a few rounds
    of probes, so probes stuck on a dead host until their own timeouts do not starve new ones."""
    global _pool, _pool_pid
    if _pool is None or _pool_pid != os.getpid():
        _pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=4 * len(CHECKS), thread_name_prefix="healthz"
        )
        _pool_pid = os.getpid()
    return _pool


def run_checks() -> dict[str, str | None]:
    """{name: None when fine, else why it failed}, within DEADLINE seconds."""
    pool = _executor()
    futures = {name: pool.submit(check) for name, check in CHECKS.items()}
    deadline = time.monotonic() + DEADLINE
    results: dict[str, str | None] = {}
    for name, future in futures.items():
        try:
            future.result(timeout=max(0.0, deadline - time.monotonic()))
            results[name] = None
        except concurrent.futures.TimeoutError:
            future.cancel()
            results[name] = "no answer in time"
        except Exception as exc:  # noqa: BLE001 - any failure means "not available"
            results[name] = f"{type(exc).__name__}: {str(exc)[:200]}"
    return results


def healthz(request):
    results = run_checks()
    failing = [name for name, error in results.items() if error is not None]
    if failing:
        for name in failing:
            logger.warning("healthz: %s is failing (%s)", name, results[name])
        return JsonResponse(
            {
                "status": "unavailable",
                "failing": failing,
                "detail": "Unavailable: " + ", ".join(failing),
                "version": __version__,
            },
            status=503,
            headers={"Retry-After": str(RETRY_AFTER), "Cache-Control": "no-store"},
        )
    return JsonResponse(
        {"status": "ok", "version": __version__}, headers={"Cache-Control": "no-store"}
    )
