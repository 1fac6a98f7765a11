"""Public upload-link routes (`/r/<token>`): the page and the streaming upload endpoint.

Both start with `sharing.access.upload_link_resolve`. The upload streams each `file` part into
encrypted storage through the files app's StreamingUploadHandler, inside a quota reservation of
the link's owner; anything refused or broken leaves no file and no stored bytes behind.
"""

import functools

from django.core.exceptions import ValidationError
from django.http import JsonResponse
from django.shortcuts import render
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods
from rest_framework.exceptions import APIException

from files import services as file_services
from files.uploads import (
    ReservationLease,
    StreamingMultiPartParser,
    StreamingUploadHandler,
    request_content_length,
)
from locker import outages
from locker.api import error_text
from locker.network import client_ip
from sharing import access
from sharing.access import ShareDenied
from sharing.upload_links import (
    UploadRefused,
    upload_link_max_file_size,
    upload_link_receive,
    upload_link_reserve,
)
from sharing.views import link_page, public_headers, public_view


def _limits(link) -> dict:
    max_size = upload_link_max_file_size(link)
    return {
        "max_file_size": max_size,
        "max_file_size_text": filesizeformat(max_size) if max_size else "",
        "files_left": (link.max_files - link.files_count) if link.max_files else None,
    }


@csrf_exempt  # see sharing.views.cross_site_post
@require_http_methods(["GET", "HEAD", "POST"])
@public_view
def upload_page(request, token: str):
    def page():
        link = access.upload_link_resolve(request, token)
        context = {
            "link": link,
            "owner_name": link.owner.public_name,
            "token": token,
            **_limits(link),
        }
        return render(request, "sharing/upload_page.html", context)

    return link_page(request, token, resolve=access.upload_link_resolve, page=page)


def _json_error(status: int, message: str, *, retry_after: int | None = None):
    response = JsonResponse({"detail": message}, status=status)
    if retry_after:
        response["Retry-After"] = str(retry_after)
    return public_headers(response)


def _outages_as_json(view):
    """An outage (storage down, disk full…) answers its JSON 503/507 with the public headers."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except Exception as exc:
            response = outages.response_for_exception(request, exc)
            if response is None:
                raise
            return public_headers(response)

    return wrapper


# The token is the capability; the unlock cookie is SameSite=Lax so no other site can use it.
@csrf_exempt
@require_http_methods(["POST"])
@_outages_as_json
def upload_receive(request, token: str):
    """`POST /r/<token>/upload`, multipart `file` parts → 201 `{"files": [{name, size}]}`."""
    try:
        link = access.upload_link_resolve(request, token)
    except ShareDenied as exc:
        return _json_error(exc.status, exc.message, retry_after=exc.retry_after)
    try:
        length = request_content_length(request.META)
    except APIException as exc:
        return _json_error(exc.status_code, error_text(exc.detail))
    max_size = upload_link_max_file_size(link)
    if not (request.content_type or "").startswith("multipart/form-data"):
        return _json_error(415, _("Send the files as multipart/form-data."))
    try:
        reservation = upload_link_reserve(link=link, size=length)
    except UploadRefused as exc:
        return _json_error(exc.status, exc.message, retry_after=exc.retry_after)
    except file_services.QuotaExceeded:
        # The owner's quota is their business: say only that there is no room.
        return _json_error(507, _("There is no room left for uploads on this link."))
    handler = StreamingUploadHandler(
        request,
        field_name="file",
        max_file_size=max_size,
        budget=length,
        lease=ReservationLease(reservation),
    )
    try:
        request.upload_handlers = [handler]
        try:
            # The files app's streaming parser: each part goes straight into encrypted storage.
            StreamingMultiPartParser().parse(
                request,
                request.META.get("CONTENT_TYPE", ""),
                {"request": request, "encoding": request.encoding or "utf-8"},
            )
        except APIException as exc:
            handler.discard()
            # A name refused while parsing is {"file": [...]}: send its sentences, not a repr.
            return _json_error(exc.status_code, error_text(exc.detail))
        except BaseException:
            handler.discard()
            raise
        if handler.interrupted:
            handler.discard()
            return _json_error(400, _("The upload was interrupted before it was complete."))
        stored = list(handler.stored)
        if not stored:
            return _json_error(400, _("No file was sent."))
        contents = [
            file_services.NewFileContent(
                name=upload.name,
                blob=upload.blob,
                size=upload.size,
                sha256=upload.sha256,
                content_type=file_services.content_type_detect(upload.head),
            )
            for upload in stored
        ]
        try:
            upload_link_receive(
                link=link,
                contents=contents,
                reservation=reservation,
                ip=client_ip(request),
            )
        except UploadRefused as exc:
            handler.discard()
            return _json_error(exc.status, exc.message)
        except file_services.QuotaExceeded:
            handler.discard()
            return _json_error(507, _("There is no room left for uploads on this link."))
        except file_services.ContentGone as exc:  # waited past the orphan grace period
            handler.discard()
            return _json_error(409, str(exc))
        except file_services.UploadCancelled as exc:
            handler.discard()
            return _json_error(410, str(exc))
        except ValidationError as exc:  # a name the files app refuses
            handler.discard()
            return _json_error(400, " ".join(exc.messages))
        except BaseException:
            handler.discard()
            raise
    finally:
        file_services.upload_reservation_release(reservation=reservation)
    # Only what the uploader sent: the stored name may differ ("name (1)") and would tell.
    return public_headers(
        JsonResponse({"files": [{"name": c.name, "size": c.size} for c in contents]}, status=201)
    )
