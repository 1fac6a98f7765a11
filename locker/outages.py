"""What a request answers when something Locker depends on fails (docs/operations.md).

One place decides, from the exception, which part is at fault:

- the database, the cache, the broker (task queue) or the content storage is unreachable →
  503 with `Retry-After`, naming that part in plain words;
- a disk is full (ENOSPC on the objects directory, the database's own "disk full") → 507;
- the stored bytes of a file are damaged or missing (storage.exceptions.CorruptContent) → 500, a
  fault of the server that retrying does not cure.

API routes and the JSON routes of upload links (`/r/<token>/upload`, `/r/<token>/tus/…`)
answer `{"code", "detail"}` (locker.errors: `service_unavailable` with `unavailable` naming the
part, `disk_full`, `content_damaged`), as do the public link routes when the client asks for
JSON (locker.errors.answers_json); every other route a small page that needs neither the
database nor the session (the normal pages do). The same answer comes from three entry points:
the DRF exception handler (locker/api.py), `OutageMiddleware` for other views, and the 500
handler (locker/views.py) for what fails in a middleware, such as loading the session.
"""

from __future__ import annotations

import errno
import logging
from dataclasses import dataclass

from django.http import HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.utils.translation import gettext as _

logger = logging.getLogger("locker.outages")

RETRY_AFTER = 30  # seconds; a hint, not a promise
DISK_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT}
# Errors of the local objects directory that mean "storage broken", not "request wrong".
STORAGE_ERRNOS = {errno.EIO, errno.EROFS}


@dataclass(frozen=True)
class Outage:
    status: int
    part: str  # database | cache | broker | storage | disk | content
    message: str


def _unavailable(part: str) -> Outage:
    messages = {
        "database": _("The database is unavailable right now. Please try again in a minute."),
        "cache": _(
            "The cache server (it keeps rate limits and lock-outs) is unavailable right now. "
            "Please try again in a minute."
        ),
        "broker": _(
            "The task queue (broker) is unavailable right now, so this cannot be done. "
            "Please try again in a minute."
        ),
        "storage": _("The file storage is unavailable right now. Please try again in a minute."),
    }
    return Outage(503, part, messages[part])


def _disk_full() -> Outage:
    return Outage(
        507,
        "disk",
        _(
            "The server's disk is full: nothing of this request was kept. Please try again "
            "later; the administrator has been told."
        ),
    )


def _damaged() -> Outage:
    return Outage(
        500,
        "content",
        _("The stored content of this file is damaged or missing; an administrator has been told."),
    )


def _chain(exc: BaseException):
    """The exception, then what caused it (explicitly or while handling), a few levels deep;
    `raise … from None` ends the chain."""
    seen = 0
    while exc is not None and seen < 8:
        yield exc
        seen += 1
        if exc.__cause__ is not None:
            exc = exc.__cause__
        else:
            exc = None if exc.__suppress_context__ else exc.__context__


def _classify_one(exc: BaseException) -> Outage | None:
    from django.db import InterfaceError, OperationalError

    from storage.backends.base import StorageUnavailable
    from storage.exceptions import CorruptContent

    module = type(exc).__module__ or ""
    if isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS:
        return _disk_full()
    if isinstance(exc, CorruptContent):
        return _damaged()
    if isinstance(exc, StorageUnavailable):
        return _unavailable("storage")
    if isinstance(exc, (OperationalError, InterfaceError)):
        # The driver's own error (the cause) may say "disk full".
        for inner in _chain(exc.__cause__):
            if getattr(inner, "sqlstate", None) == "53100" or "disk is full" in str(inner):
                return _disk_full()
        return _unavailable("database")
    if module.startswith("redis"):
        from redis import exceptions as redis_errors

        if isinstance(exc, (redis_errors.ConnectionError, redis_errors.TimeoutError)):
            return _unavailable("cache")
        if isinstance(exc, redis_errors.ResponseError) and str(exc).startswith(
            ("MISCONF", "OOM", "LOADING", "READONLY")
        ):
            return _unavailable("cache")
        return None
    if module.startswith(("kombu", "celery", "amqp")):
        from kombu.exceptions import OperationalError as BrokerError

        return _unavailable("broker") if isinstance(exc, BrokerError) else None
    if module.startswith("botocore"):
        from botocore import exceptions as boto_errors

        if isinstance(exc, (boto_errors.HTTPClientError, boto_errors.ResponseStreamingError)):
            return _unavailable("storage")
        if isinstance(exc, boto_errors.ClientError):
            response = getattr(exc, "response", None) or {}
            status = response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
            code = response.get("Error", {}).get("Code", "")
            if status >= 500 or code in ("SlowDown", "ServiceUnavailable", "InternalError"):
                return _unavailable("storage")
        return None
    if module.startswith("urllib3"):  # a body read by botocore (storage/backends/s3.py)
        from urllib3.exceptions import HTTPError

        return _unavailable("storage") if isinstance(exc, HTTPError) else None
    if isinstance(exc, OSError) and exc.errno in STORAGE_ERRNOS:
        return _unavailable("storage")
    return None


def outage_for(exc: BaseException) -> Outage | None:
    """The outage `exc` stands for, or None for an ordinary error."""
    for link in _chain(exc):
        outage = _classify_one(link)
        if outage is not None:
            return outage
    return None


def wants_json(request) -> bool:
    from locker.errors import answers_json

    return answers_json(request)


def headers_for(outage: Outage) -> dict[str, str]:
    headers = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
    if outage.status == 503:
        headers["Retry-After"] = str(RETRY_AFTER)
    return headers


def body_for(outage: Outage) -> dict:
    from locker.errors import ErrorCode, error_body

    if outage.status == 503:
        return error_body(ErrorCode.SERVICE_UNAVAILABLE, outage.message, unavailable=outage.part)
    code = ErrorCode.DISK_FULL if outage.part == "disk" else ErrorCode.CONTENT_DAMAGED
    return error_body(code, outage.message)


def log_outage(request, outage: Outage, exc: BaseException) -> None:
    path = getattr(request, "path", "")
    if outage.part == "content":
        logger.error("Stored content unreadable on %s", path, exc_info=exc)
    else:
        # One line per request: an outage fails many requests, each would repeat the traceback.
        logger.warning(
            "%s %s on %s: %s: %s",
            outage.status,
            outage.part,
            path,
            type(exc).__name__,
            str(exc)[:300],
        )


def outage_response(request, outage: Outage) -> HttpResponse:
    """The answer to `request` for `outage`: JSON on JSON routes, else a page."""
    if wants_json(request):
        response = JsonResponse(body_for(outage), status=outage.status)
    else:
        # Rendered without the request: the page must not need the session or the database.
        html = render_to_string(
            "outage.html",
            {"status": outage.status, "part": outage.part, "message": outage.message},
        )
        response = HttpResponse(html, status=outage.status)
    for name, value in headers_for(outage).items():
        response[name] = value
    return response


def response_for_exception(request, exc: BaseException) -> HttpResponse | None:
    """The outage answer for `exc` (logged), or None when `exc` is no outage."""
    outage = outage_for(exc)
    if outage is None:
        return None
    log_outage(request, outage, exc)
    return outage_response(request, outage)


class OutageMiddleware:
    """Turns an outage raised by a view into its answer (DRF views use locker.api instead)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        return response_for_exception(request, exception)
