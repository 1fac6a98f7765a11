"""`ETag`, `If-Match` and `If-None-Match` on the API's detail endpoints (docs/api-idempotency.md).

An item's ETag is a hash of its representation, exactly as the API shows it: it changes
whenever any field a client sees changes, and two answers with the same ETag are the same bytes
of JSON (a strong validator). A PATCH or DELETE with `If-Match` that no longer names the current
state answers 412 and changes nothing; the check and the change happen in one transaction with
the item's row locked (`SELECT … FOR UPDATE`), so two clients sending the same ETag cannot both
succeed. A GET with `If-None-Match` naming the current state answers 304.

Used as a mixin on a viewset whose detail actions are `retrieve`, `partial_update` and
`destroy`: the view's write methods take their item from `self.preconditioned()`.
"""

import hashlib
import json
from contextlib import contextmanager

from django.db import transaction
from django.utils.http import parse_etags
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import exceptions, status
from rest_framework.response import Response

IF_MATCH_PARAMETER = OpenApiParameter(
    "If-Match",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description=(
        "Optional: the `ETag` of the item as you last saw it (or `*`). When the item has "
        "changed since, nothing is done and the answer is 412."
    ),
)
IF_NONE_MATCH_PARAMETER = OpenApiParameter(
    "If-None-Match",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="Optional: an `ETag` you hold; 304 without a body while it is still current.",
)


class PreconditionFailed(exceptions.APIException):
    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_code = "precondition_failed"
    default_detail = gettext_lazy(
        "This item has changed since you read it (its ETag is not the one in If-Match): read "
        "it again, then decide."
    )


def etag_of(data) -> str:
    """The strong ETag of a representation (what a serializer gives)."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return '"' + hashlib.sha256(text.encode()).hexdigest()[:40] + '"'


def _names(header: str, etag: str) -> bool:
    # Strong comparison (RFC 9110 §13.1.1): a weak tag never matches; `*` matches any item.
    tags = parse_etags(header)
    return "*" in tags or etag in tags


class ConditionalMixin:
    """ETag on the item's answers, If-Match on its changes, If-None-Match on its reads."""

    conditional_actions = ("retrieve", "partial_update")

    def represent(self, item) -> dict:
        """The item as the detail actions answer it (the ETag is a hash of this)."""
        return self.get_serializer(item).data

    def lock_item(self, item) -> None:
        """Lock the item's row until the end of the transaction. A viewset whose changes take
        other locks first overrides this to take them in the same order (files and folders:
        the owner's tree lock, then the item), so that no two requests deadlock."""
        type(item)._default_manager.select_for_update().filter(pk=item.pk).exists()

    @contextmanager
    def preconditioned(self):
        """The item the request acts on (`get_object()`). With `If-Match`: within a
        transaction, its row locked, read again and checked; the caller's change must happen
        inside the `with` block, in the same transaction. Without it: as before."""
        header = self.request.headers.get("If-Match")
        if header is None:
            yield self.get_object()
            return
        with transaction.atomic():
            self.lock_item(self.get_object())
            item = self.get_object()  # read again, now that nobody else may change it
            if not _names(header, etag_of(self.represent(item))):
                raise PreconditionFailed()
            yield item

    def finalize_response(self, request, response, *args, **kwargs):
        if (
            getattr(self, "action", None) in self.conditional_actions
            and response.status_code == status.HTTP_200_OK
            and isinstance(response, Response)
            and isinstance(response.data, dict)
        ):
            etag = etag_of(response.data)
            wanted = request.headers.get("If-None-Match")
            if request.method in ("GET", "HEAD") and wanted and _names(wanted, etag):
                response = Response(status=status.HTTP_304_NOT_MODIFIED)
            response["ETag"] = etag
        return super().finalize_response(request, response, *args, **kwargs)


def conditional_schema():
    """The headers of the mixin's detail actions, for a viewset's schema: a class decorator,
    placed below the viewset's own `extend_schema_view` (their parameters add up). Only the
    actions the viewset has are annotated."""
    headers = {
        "retrieve": IF_NONE_MATCH_PARAMETER,
        "partial_update": IF_MATCH_PARAMETER,
        "destroy": IF_MATCH_PARAMETER,
    }

    def decorate(view):
        present = {name: header for name, header in headers.items() if hasattr(view, name)}
        return extend_schema_view(
            **{name: extend_schema(parameters=[header]) for name, header in present.items()}
        )(view)

    return decorate


_ETAG_HEADER = {
    "ETag": {
        "schema": {"type": "string"},
        "description": "The item's current state: send it in If-Match (or If-None-Match).",
    }
}


def document_preconditions(result, generator, request, public):
    """drf-spectacular hook: an operation that takes `If-Match` also answers 412, one that takes
    `If-None-Match` also answers 304; the item's 200 answer of both carries `ETag`."""
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            if not isinstance(operation, dict):
                continue
            names = {parameter.get("name") for parameter in operation.get("parameters", [])}
            responses = operation.setdefault("responses", {})
            if "If-Match" in names:
                responses.setdefault(
                    "412",
                    {
                        "description": "The item changed since the ETag in If-Match was read; "
                        "nothing was done (`code`: `precondition_failed`)."
                    },
                )
            if "If-None-Match" in names:
                responses.setdefault(
                    "304", {"description": "Not modified: the ETag in If-None-Match is current."}
                )
            if names & {"If-Match", "If-None-Match"} and "200" in responses:
                responses["200"].setdefault("headers", {}).update(_ETAG_HEADER)
    return result
