"""Public upload-link routes (`/r/<token>`): the page and the streaming upload endpoint.

Both start with `sharing.access.upload_link_resolve`. The upload goes through the files app's
intake (files.intake.multipart_intake): each `file` part streams into encrypted storage, inside a
quota reservation of the link's owner within the link's own room; anything refused or broken
leaves no file and no stored bytes behind. This view only maps the intake's typed errors to
public answers, which never show the owner's quota figures.
"""

import functools

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from django.views.decorators.csrf import csrf_exempt

from files import intake
from files import services as file_services
from locker import outages
from locker.errors import ErrorCode, code_or_status, error_body
from locker.formats import size_text
from locker.network import client_ip
from sharing import access
from sharing.access import ShareDenied
from sharing.upload_links import (
    UploadRefused,
    upload_batch_path,
    upload_batch_token,
    upload_link_max_file_size,
    upload_link_receive,
    upload_link_reserve,
)
from sharing.views import link_page, public_headers, public_methods, public_view

NO_ROOM = gettext_noop("There is no room left for uploads on this link.")
INTERRUPTED = gettext_noop("The upload was interrupted before it was complete; nothing was kept.")


def _limits(link) -> dict:
    max_size = upload_link_max_file_size(link)
    return {
        "max_file_size": max_size,
        "max_file_size_text": size_text(max_size) if max_size else "",
        "files_left": (link.max_files - link.files_count) if link.max_files else None,
    }


def _max_path_depth(link) -> int:
    """How many folder levels a dropped tree may have below the batch folder."""
    from files.selectors import folder_depth

    return max(0, settings.LOCKER_MAX_FOLDER_DEPTH - folder_depth(folder_id=link.folder_id) - 1)


@csrf_exempt  # see sharing.views.cross_site_post
@public_methods(["GET", "HEAD", "POST"])
@public_view
def upload_page(request, token: str):
    def page():
        link = access.upload_link_resolve(request, token)
        context = {
            "link": link,
            "owner_name": link.owner.public_name,
            "token": token,
            "batch": upload_batch_token(link=link),
            "max_path_depth": _max_path_depth(link),
            **_limits(link),
        }
        return render(request, "sharing/upload_page.html", context)

    return link_page(request, token, resolve=access.upload_link_resolve, page=page)


def _json_error(
    status: int, message: str, *, code: str | None = None, retry_after: int | None = None
):
    body = error_body(code_or_status(code, status), message)
    response = JsonResponse(body, status=status)
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
@public_methods(["POST"])
@_outages_as_json
def upload_receive(request, token: str):
    """`POST /r/<token>/upload`, multipart `file` parts → 201
    `{"files": [{name, size}], "files_left": n or null}`.

    Optional `batch` (the page's signed batch token) and `path` (a relative folder path,
    "Trip/Day 1") put the files into that folder below the batch's folder, made as needed: in
    the query string, checked before any room is reserved, or as form fields before the file."""
    try:
        link = access.upload_link_resolve(request, token)
    except ShareDenied as exc:
        return _json_error(exc.status, exc.message, code=exc.code, retry_after=exc.retry_after)
    max_size = upload_link_max_file_size(link)
    place = {"checked": False, "names": None}
    if request.GET.get("path"):
        # In the query string (as the page sends them): refused before anything is reserved,
        # so that a visitor's bad folder name costs no quota probe of the link (finding M1).
        try:
            place["names"] = upload_batch_path(
                link=link, batch=request.GET.get("batch"), path=request.GET.get("path")
            )
        except UploadRefused as exc:
            return _json_error(exc.status, exc.message, code=exc.code, retry_after=exc.retry_after)
        place["checked"] = True

    def folder_of(fields) -> None:
        # A folder upload names `batch` and `path` before the file: refused before any byte.
        if place["checked"]:
            return
        place["checked"] = True
        if fields is not None and fields.get("path"):
            place["names"] = upload_batch_path(
                link=link, batch=fields.get("batch"), path=fields.get("path")
            )

    try:
        with intake.multipart_intake(
            request,
            reserve=lambda size: upload_link_reserve(link=link, size=size),
            max_file_size=max_size,
            before_first_file=folder_of,
        ) as received:
            contents = received.contents
            if not place["checked"] or (received.fields.get("path") and not place["names"]):
                folder_of(received.fields)  # fields sent after the file: checked now
            upload_link_receive(
                link=link,
                contents=contents,
                reservation=received.reservation,
                ip=client_ip(request),
                folder_names=place["names"],
            )
    except intake.OverQuota:  # a lapsed lease whose room was taken: the owner's figures
        return _json_error(507, _(NO_ROOM))
    except intake.EmptyBody:
        # What an empty body has always been told here (the parser found no boundary).
        return _json_error(400, _(INTERRUPTED))
    except intake.IntakeError as exc:
        return _json_error(exc.status, exc.message)
    except UploadRefused as exc:
        return _json_error(exc.status, exc.message, code=exc.code, retry_after=exc.retry_after)
    except file_services.QuotaExceeded:
        # The owner's quota is their business: say only that there is no room.
        return _json_error(507, _(NO_ROOM))
    except file_services.ContentGone as exc:  # waited past the orphan grace period
        return _json_error(409, str(exc))
    except file_services.UploadCancelled as exc:
        return _json_error(410, str(exc))
    except ValidationError as exc:  # a name the files app refuses
        return _json_error(400, " ".join(exc.messages))
    except file_services.NameConflict as exc:  # a folder of the path is a file already
        return _json_error(409, str(exc), code=ErrorCode.NAME_CONFLICT)
    except file_services.InvalidMove as exc:  # too deep, found while creating the folders
        return _json_error(400, str(exc))
    # Only what the uploader sent: the stored name may differ ("name (1)") and would tell.
    # `files_left` (null: no limit) is what the page already shows, brought up to date.
    link.refresh_from_db(fields=["files_count"])
    body = {
        "files": [{"name": c.name, "size": c.size} for c in contents],
        "files_left": _limits(link)["files_left"],
    }
    return public_headers(JsonResponse(body, status=201))
