"""Readiness probe: the database, content storage and broker must all answer."""

from django.db import connection
from django.http import JsonResponse


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _check_storage() -> None:
    from files.blobstore import get_blobstore

    get_blobstore().check()


def _check_broker() -> None:
    from locker.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=3)


CHECKS = {"database": _check_database, "storage": _check_storage, "broker": _check_broker}


def healthz(request):
    failing = []
    for name, check in CHECKS.items():
        try:
            check()
        except Exception:  # noqa: BLE001 - any failure means "not reachable"
            failing.append(name)
    if failing:
        return JsonResponse(
            {
                "status": "unavailable",
                "failing": failing,
                "detail": "Unreachable: " + ", ".join(failing),
            },
            status=503,
        )
    return JsonResponse({"status": "ok"})
