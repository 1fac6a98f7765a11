"""The API's frame: error format and pagination shared by every app's api package."""

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework import exceptions, pagination, serializers
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param
from rest_framework.views import exception_handler as drf_exception_handler

from locker import keyset, outages
from locker.errors import ErrorCode, code_or_status, error_body

# An id in a router's path (links, webhooks): a UUID, its dashes optional, in any case.
UUID_IN_PATH = r"[0-9a-fA-F]{8}(?:-?[0-9a-fA-F]{4}){3}-?[0-9a-fA-F]{12}"


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
    """Every API error is `{"code": …, "detail": "<a sentence>"}` (locker.errors); validation
    errors add `errors`, a name conflict the `existing` item when the view names it.

    The code is the exception's own when it is one of locker.errors.ErrorCode (an APIException's
    `default_code`, or the `code` it was raised with), else the one of its status. An outage
    (database, cache, broker, storage down; disk full; damaged content) answers as
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
        response.data = error_body(ErrorCode.INVALID, _first_message(exc.detail), errors=exc.detail)
        return response
    detail = response.data.get("detail") if isinstance(response.data, dict) else None
    code = getattr(detail, "code", None)
    extra = getattr(exc, "extra", None) or {}
    response.data = error_body(
        code_or_status(code, response.status_code),
        detail if detail is not None else _first_message(response.data),
        **extra,
    )
    return response


class ExistingItemSerializer(serializers.Serializer):
    id = serializers.UUIDField(help_text="The item's id.")
    name = serializers.CharField(help_text="Its name, as stored (the case may differ).")
    type = serializers.ChoiceField(choices=["file", "folder"])


class ErrorSerializer(serializers.Serializer):
    """The body of every error answer of the API (docs/api-errors.md)."""

    code = serializers.ChoiceField(
        choices=ErrorCode.choices,
        help_text="What went wrong, for programs: one of a fixed list that does not change "
        "for a given cause (docs/api-errors.md).",
    )
    detail = serializers.CharField(
        help_text="What went wrong, in a sentence for people (in the request's language)."
    )
    errors = serializers.DictField(
        required=False,
        help_text="Validation errors only (`code` is `invalid`): field name → its sentences "
        "(`non_field_errors` for the request as a whole); for an item of a list or a nested "
        "field, the same shape again under its index or name.",
    )
    unavailable = serializers.ChoiceField(
        choices=["database", "cache", "broker", "storage"],
        required=False,
        help_text="With `service_unavailable` (503) only: the part that is down.",
    )
    existing = ExistingItemSerializer(
        required=False,
        help_text="With `name_conflict` (409) in your own locker: the item that holds the name "
        "(a retried upload finds the file it already sent).",
    )


class LockerAPIException(exceptions.APIException):
    """An API error with a code of ours and, optionally, members added to its body."""

    def __init__(self, detail=None, code=None, **extra):
        super().__init__(detail, code)
        self.extra = extra


class InvalidCursor(exceptions.APIException):
    status_code = 400
    default_detail = gettext_lazy("The cursor is not valid.")
    default_code = ErrorCode.INVALID


class InvalidPageParameters(exceptions.APIException):
    status_code = 400
    default_detail = gettext_lazy("The page parameters are not valid.")
    default_code = ErrorCode.INVALID


class NumberedPages(pagination.PageNumberPagination):
    """`?page=N`: the pages as they were before cursors, with an exact `count`; and what
    every page of an API list shares, numbered or not: its size (`page_size`, capped)."""

    page_size_query_param = "page_size"
    max_page_size = 500

    def get_page_size(self, request) -> int:
        """`page_size` from the query, at most max_page_size (a larger one is capped); the
        default without it. Anything but a whole number from 1 on is refused with a sentence
        (DRF would quietly use the default)."""
        text = request.query_params.get(self.page_size_query_param)
        if text is None or text == "":
            return self.page_size
        if not (text.isascii() and text.isdigit()) or int(text) < 1:
            raise InvalidPageParameters(
                _(
                    "page_size must be a whole number of items from 1 on (at most %(max)d are "
                    "given per page)."
                )
                % {"max": self.max_page_size}
            )
        return min(int(text), self.max_page_size)


class Pagination(NumberedPages):
    """Every API list. Without `page`, keyset pages (`locker.keyset`): `?cursor=` from a
    `next` or `previous` link, and the answer `{"next", "previous", "results"}`; a page costs
    the same queries and time wherever it is, and nothing is counted. With `page=N` (kept for
    compatibility: the web UI numbers its pages), the numbered pages with `count`, as before
    (NumberedPages, which this class is); a far page then costs more, as OFFSET walks every row
    before it. A cursor holds the request's filters: one used with another `search`, folder or
    filter is refused, as is one given with `page`."""

    cursor_query_param = "cursor"
    # What may change between pages without changing the list (every other parameter is bound
    # into the cursor).
    unbound_query_params = frozenset({"cursor", "page_size"})

    def __init__(self):
        self.numbered = False

    def _filters(self, request) -> dict[str, list[str]]:
        return {
            name: values
            for name, values in request.query_params.lists()
            if name not in self.unbound_query_params
        }

    def paginate_queryset(self, queryset, request, view=None):
        text = request.query_params.get(self.cursor_query_param)
        if self.page_query_param in request.query_params:
            if text:
                raise InvalidPageParameters(
                    _(
                        "Use either `page` or `cursor`, not both: `cursor` follows the `next` "
                        "and `previous` links, `page` numbers the pages."
                    )
                )
            self.numbered = True
            return super().paginate_queryset(queryset, request, view)
        self.request = request
        size = self.get_page_size(request)
        listing = keyset.listing_for(queryset)
        self.filters = self._filters(request)
        position = None
        try:
            if text:
                position = keyset.cursor_decode(listing.keyset_name, text, self.filters)
            rows = listing.keyset_page(position, limit=size + 1)
        except keyset.ForeignCursor:
            raise InvalidCursor(
                _(
                    "This cursor was made for another list or sort order: follow the `next` "
                    "and `previous` links of this list as they are given."
                )
            ) from None
        except keyset.OtherFilters:
            raise InvalidCursor(
                _(
                    "This cursor was made for another search or other filters: keep the "
                    "query of the page it came from, or start again without `cursor`."
                )
            ) from None
        except keyset.InvalidCursor:
            raise InvalidCursor(
                _(
                    "This cursor is not valid: follow the `next` and `previous` links as they "
                    "are given."
                )
            ) from None
        more = len(rows) > size
        backwards = position is not None and position.backwards
        if more:
            rows = rows[1:] if backwards else rows[:size]
        values = [listing.keyset_values(row) for row in (rows[0], rows[-1])] if rows else []
        self.next_position = self.previous_position = None
        self.next_to_start = False
        if backwards:
            # Came back from a later page: there is one after this; before, if more were read.
            if rows:
                self.next_position = keyset.Position(values[1])
            else:
                self.next_to_start = True
            if more:
                self.previous_position = keyset.Position(values[0], backwards=True)
        else:
            if more:
                self.next_position = keyset.Position(values[1])
            if position is not None and rows:
                self.previous_position = keyset.Position(values[0], backwards=True)
        self.listing_name = listing.keyset_name
        return rows

    def _link(self, position: "keyset.Position | None") -> str | None:
        url = self.request.build_absolute_uri()
        if position is None:
            return remove_query_param(url, self.cursor_query_param) if self.next_to_start else None
        text = keyset.cursor_encode(self.listing_name, position, self.filters)
        return replace_query_param(url, self.cursor_query_param, text)

    def get_next_link(self) -> str | None:
        if self.numbered:
            return super().get_next_link()
        return self._link(self.next_position) if self.next_position or self.next_to_start else None

    def get_previous_link(self) -> str | None:
        if self.numbered:
            return super().get_previous_link()
        return self._link(self.previous_position) if self.previous_position else None

    def get_paginated_response(self, data):
        if self.numbered:
            return super().get_paginated_response(data)
        return Response(
            {
                "next": self.get_next_link(),
                "previous": self.get_previous_link(),
                "results": data,
            }
        )

    def get_paginated_response_schema(self, schema):
        link = {"type": "string", "nullable": True, "format": "uri"}
        return {
            "type": "object",
            "required": ["next", "previous", "results"],
            "properties": {
                "count": {
                    "type": "integer",
                    "description": "How many items there are in all: only with `page`.",
                    "example": 123,
                },
                "next": {**link, "description": "The next page, or null at the end."},
                "previous": {**link, "description": "The page before, or null at the start."},
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view):
        def parameter(name: str, kind: str, description: str, **bounds) -> dict:
            return {
                "name": name,
                "required": False,
                "in": "query",
                "description": description,
                "schema": {"type": kind, **bounds},
            }

        return [
            parameter(
                self.cursor_query_param,
                "string",
                "Where the page starts: the opaque value of a `next` or `previous` link. Pages "
                "follow one another by these links and cost the same wherever they are. A "
                "cursor holds the query it was made for: with another `search` or filter, or "
                "together with `page`, it is refused (400).",
            ),
            parameter(
                self.page_size_query_param,
                "integer",
                f"Items per page: {self.page_size} unless asked. At most {self.max_page_size}: a "
                f"larger number gives pages of {self.max_page_size}. Anything but a whole number "
                "from 1 on is refused (400).",
                minimum=1,
                maximum=self.max_page_size,
            ),
            parameter(
                self.page_query_param,
                "integer",
                "Kept for compatibility: a numbered page (from 1), and the answer has `count`. "
                "Far pages of a long list are slower than with cursors. Not with `cursor`.",
                minimum=1,
            ),
        ]


def document_list_errors(result, generator, request, public):
    """drf-spectacular hook: every paginated list (an operation with the `cursor` parameter)
    also answers 400 for a cursor that is not valid here and 404 for a `page` past the end;
    the lists that document those codes already keep their own description."""
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            if not isinstance(operation, dict):
                continue
            names = {parameter.get("name") for parameter in operation.get("parameters", [])}
            if Pagination.cursor_query_param not in names:
                continue
            responses = operation.setdefault("responses", {})
            responses.setdefault(
                "400",
                {
                    "description": "Invalid input, such as a cursor that was changed or made "
                    "for another list, order or query, a `page_size` that is not a whole "
                    "number from 1, or `page` with `cursor`; `detail` says what is wrong."
                },
            )
            responses.setdefault("404", {"description": "A `page` past the end of the list."})
    return result
