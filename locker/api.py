"""The API's frame: error format and pagination shared by every app's api package."""

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404
from rest_framework import exceptions, pagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from locker import outages


def _first_message(data) -> str:
    if isinstance(data, list) and data:
        return _first_message(data[0])
    if isinstance(data, dict) and data:
        key, value = next(iter(data.items()))
        message = _first_message(value)
        return message if key in ("non_field_errors", "detail") else f"{key}: {message}"
    return str(data)


def error_text(detail) -> str:
    """Every sentence of a DRF error detail (a string, or lists and dicts of them), for views
    that answer outside DRF: `{"file": ["A name cannot contain “/”."]}` → that sentence."""
    if isinstance(detail, dict):
        return " ".join(error_text(value) for value in detail.values())
    if isinstance(detail, list | tuple):
        return " ".join(error_text(value) for value in detail)
    return str(detail)


def exception_handler(exc, context):
    """Every API error is `{"detail": "<a sentence>"}`; validation errors add `errors`.

    An outage (database, cache, broker, storage down; disk full; damaged content) answers as
    locker.outages decides: 503 with Retry-After naming the part, 507, or 500.
    """
    if not isinstance(exc, exceptions.APIException | Http404 | PermissionDenied):
        outage = outages.outage_for(exc)
        if outage is not None:
            outages.log_outage(context.get("request"), outage, exc)
            return Response(
                outages.body_for(outage), status=outage.status, headers=outages.headers_for(outage)
            )
    if isinstance(exc, RequestDataTooBig):
        # Django refuses a body above DATA_UPLOAD_MAX_MEMORY_SIZE by its Content-Length.
        from locker.parsers import RequestTooLarge, body_limit, too_large_message

        exc = RequestTooLarge(too_large_message(body_limit() or 0))
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        # Throttles run after authentication in DRF: count the refused request here, so that
        # anonymous requests and guessed tokens are limited too (429 instead of 401).
        from locker.throttle import anonymous_request_throttled

        wait = anonymous_request_throttled(context.get("request"), context.get("view"))
        if wait is not None:
            exc = exceptions.Throttled(wait)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        response.data = {"detail": _first_message(exc.detail), "errors": exc.detail}
    elif not (isinstance(response.data, dict) and "detail" in response.data):
        response.data = {"detail": _first_message(response.data)}
    return response


class Pagination(pagination.PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 500
