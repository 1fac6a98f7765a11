"""The one error shape of every JSON answer (docs/api-errors.md), and its codes.

Every error under `/api/`, on the JSON routes of upload links (`/r/<token>/upload`,
`/r/<token>/tus/…`) and on the public link routes when the client asks for JSON (`wants_json`)
is

    {"code": "<one of ErrorCode>", "detail": "<a sentence for people>", "errors": {…}}

`errors` (field → sentences) only on validation errors; a few codes add a member of their own
(`unavailable` names the part that is down, `existing` the item that holds a name). Programs
branch on `code`, which never changes for a given cause; `detail` is translated and may be
reworded.

Imports nothing of Django's request machinery, so the WSGI and gunicorn layers (which answer
before Django runs) use it too.
"""

import re

from django.db import models


class ErrorCode(models.TextChoices):
    """Every `code` an error answer may carry. The label says when (the API's documentation)."""

    # Requests as such.
    INVALID = "invalid", "The input is not valid; `errors` says which field, when one is at fault."
    NOT_AUTHENTICATED = "not_authenticated", "No credentials, or an unknown or expired token."
    PERMISSION_DENIED = "permission_denied", "Authenticated, but not allowed to do this."
    NOT_FOUND = "not_found", "No such item or link (or not yours: never told apart)."
    METHOD_NOT_ALLOWED = "method_not_allowed", "This URL does not answer this HTTP method."
    NOT_ACCEPTABLE = "not_acceptable", "No answer in a type the Accept header allows."
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type", "The body's Content-Type is not accepted."
    TOO_LARGE = "too_large", "The body, a file or a header is larger than allowed."
    LENGTH_REQUIRED = "length_required", "The request must say its Content-Length."
    PRECONDITION_FAILED = "precondition_failed", "A required header (Tus-Resumable) is missing."
    THROTTLED = "throttled", "Too many requests or attempts; Retry-After says when to retry."
    TOO_MANY_UPLOADS = "too_many_uploads", "Too many uploads of yours are in progress."
    # State of what the request names.
    NAME_CONFLICT = "name_conflict", "The name is taken in that folder; `existing` is the item."
    CONFLICT = "conflict", "The request does not fit the item's state (an upload's offset…)."
    LOCKED = "locked", "Another request is writing to this upload right now."
    NOT_READY = "not_ready", "The file is still being processed (scanned); try again soon."
    INFECTED = "infected", "A virus was found in this file: nobody can download it."
    GONE = "gone", "The item or upload is gone for good (cancelled, expired, deleted)."
    CHECKSUM_MISMATCH = "checksum_mismatch", "The data does not match its announced checksum."
    QUOTA_EXCEEDED = "quota_exceeded", "Not enough room left in the quota (or on the link)."
    # Links (share links `/s/…`, upload links `/r/…`).
    EXPIRED = "expired", "The link has expired."
    REVOKED = "revoked", "The link was revoked by its owner."
    DOWNLOAD_LIMIT_REACHED = "download_limit_reached", "The share link's downloads are used up."
    UPLOAD_LIMIT_REACHED = "upload_limit_reached", "The upload link takes no more files."
    LINK_UNAVAILABLE = "link_unavailable", "What the link shared was deleted, or its owner left."
    PASSWORD_REQUIRED = "password_required", "The link has a password: send X-Share-Password."
    WRONG_PASSWORD = "wrong_password", "The password sent is not the link's."
    DOWNLOAD_NOT_ALLOWED = "download_not_allowed", "The link allows viewing only."
    # The server.
    SERVICE_UNAVAILABLE = "service_unavailable", "A part is down; `unavailable` names it."
    DISK_FULL = "disk_full", "The server's disk is full; nothing of the request was kept."
    CONTENT_DAMAGED = "content_damaged", "The stored bytes of the file are damaged or missing."
    SERVER_ERROR = "server_error", "Something failed on the server's side."


# What an error answers when nothing more precise was said: by its HTTP status.
STATUS_CODES = {
    400: ErrorCode.INVALID,
    401: ErrorCode.NOT_AUTHENTICATED,
    403: ErrorCode.PERMISSION_DENIED,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    406: ErrorCode.NOT_ACCEPTABLE,
    408: ErrorCode.INVALID,
    409: ErrorCode.CONFLICT,
    410: ErrorCode.GONE,
    411: ErrorCode.LENGTH_REQUIRED,
    412: ErrorCode.PRECONDITION_FAILED,
    413: ErrorCode.TOO_LARGE,
    414: ErrorCode.TOO_LARGE,
    415: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
    423: ErrorCode.LOCKED,
    429: ErrorCode.THROTTLED,
    431: ErrorCode.TOO_LARGE,
    460: ErrorCode.CHECKSUM_MISMATCH,
    503: ErrorCode.SERVICE_UNAVAILABLE,
    507: ErrorCode.QUOTA_EXCEEDED,
}

# DRF's own codes (`APIException.default_code`) that name the same thing as one of ours.
DRF_CODES = {
    "authentication_failed": ErrorCode.NOT_AUTHENTICATED,
    "parse_error": ErrorCode.INVALID,
    "error": ErrorCode.INVALID,
}


def code_for_status(status: int) -> ErrorCode:
    return STATUS_CODES.get(status, ErrorCode.SERVER_ERROR if status >= 500 else ErrorCode.INVALID)


def code_or_status(code: str | None, status: int) -> ErrorCode:
    """`code` when it is one of ours (or DRF's name of one), else the status's code."""
    if code in ErrorCode.values:
        return ErrorCode(code)
    if code in DRF_CODES:
        return DRF_CODES[code]
    return code_for_status(status)


def error_body(code: str, detail: str, *, errors=None, **extra) -> dict:
    """The body of an error answer: `code` first, then `detail`, then what it adds."""
    body = {"code": str(code), "detail": str(detail)}
    if errors is not None:
        body["errors"] = errors
    body.update(extra)
    return body


# --- Which answer a public link route gives: JSON or a page -------------------------------------


def prefers_json(request) -> bool:
    """The client ranks JSON above HTML in Accept (`Accept: application/json`): a program."""
    if not request.headers.get("Accept"):
        return False
    return request.get_preferred_type(["text/html", "application/json"]) == "application/json"


def names_html(request) -> bool:
    """Accept names text/html itself (a wildcard does not count): a browser that navigates
    (every browser sends `text/html` first in the Accept of a page load)."""
    return any(
        media.main_type == "text" and media.sub_type == "html" for media in request.accepted_types
    )


# Routes whose errors are always JSON: the API, and the upload endpoints of upload links.
JSON_ROUTES = re.compile(r"^/(?:api/|r/[^/]+/(?:upload$|tus/))")
LINK_ROUTES = re.compile(r"^/[sr]/[^/]+")
LINK_DOWNLOADS = re.compile(r"^/s/[^/]+/(?:.*/)?(?:download|preview|thumbnail)$")


def answers_json(request) -> bool:
    """Whether an error of this request answers JSON (else a page): always on JSON_ROUTES; on
    the other public link routes as `wants_json` decides; never elsewhere."""
    path = request.path
    if JSON_ROUTES.match(path):
        return True
    if LINK_ROUTES.match(path):
        return wants_json(request, download=bool(LINK_DOWNLOADS.match(path)))
    return False


def wants_json(request, *, download: bool = False) -> bool:
    """Whether an error of a public link route answers JSON instead of its page.

    Pages (`/s/<token>`, `/r/<token>`): when Accept prefers JSON over HTML. Download routes
    (files, ZIPs, previews, thumbnails): also whenever Accept does not name text/html, so
    `curl`, `wget` and scripts (`*/*` or no Accept at all) learn why a link refused them, while
    a browser following the link still gets the page.
    """
    if prefers_json(request):
        return True
    return download and not names_html(request)
