"""`/r/<token>/tus/`: tus 1.0.0 resumable uploads through an upload link.

Same rules as `POST /r/<token>/upload`: every request passes `upload_link_resolve` (expiry,
revocation, password unlock cookie, throttling), the per-file cap is the link's and the server's,
the owner's quota is reserved for the declared length within the link's own room
(`upload_link_reserve`: uploads in progress count as files; the reservation lapses after
LOCKER_UPLOAD_LINK_IDLE without bytes), and the file is created by `upload_link_receive`
(counted against the link's maximum number of files). The protocol is files/tus.py; an upload
made through one link is invisible through any other URL, and the uploader never learns the id
of what was stored.
"""

from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from files import tus
from locker import outages
from locker.errors import ErrorCode
from locker.network import client_ip
from sharing import access
from sharing.access import ShareDenied
from sharing.upload_links import UploadRefused, upload_link_max_file_size, upload_link_reserve
from sharing.views import public_headers, public_methods

NO_ROOM = _("There is no room left for uploads on this link.")


def _link(request, token: str):
    try:
        return access.upload_link_resolve(request, token)
    except ShareDenied as exc:
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else {}
        raise tus.TusError(exc.status, exc.message, headers, code=exc.code) from None


def _target(request, link) -> tus.Target:
    def reserve(size: int, name: str):
        try:
            return upload_link_reserve(link=link, size=size, name=name, resumable=True)
        except UploadRefused as exc:
            headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else {}
            raise tus.TusError(exc.status, exc.message, headers, code=exc.code) from None

    return tus.Target(
        owner=link.owner,
        folder=link.folder,
        max_size=upload_link_max_file_size(link),
        link=link,
        ip=client_ip(request),
        quota_message=str(NO_ROOM),
        reserve=reserve,
    )


def _answer(request, handler):
    try:
        return public_headers(handler())
    except tus.TusError as exc:
        return public_headers(tus.error_response(exc))
    except Exception as exc:
        response = outages.response_for_exception(request, exc)  # 503/507 as JSON
        if response is None:
            raise
        return public_headers(tus.with_tus_headers(response))


# The token is the capability (as for /r/<token>/upload); no cookie but the SameSite=Lax unlock.
@csrf_exempt
@public_methods(["OPTIONS", "POST"])
def tus_collection(request, token: str):
    def handle():
        if request.method == "OPTIONS":
            return tus.options_response()
        tus.check_version(request)
        link = _link(request, token)
        if link.max_files and link.files_count >= link.max_files:
            raise tus.TusError(
                410,
                _("This upload link does not accept more files."),
                code=ErrorCode.UPLOAD_LIMIT_REACHED,
            )
        return tus.create(request, _target(request, link), f"/r/{token}/tus/")

    return _answer(request, handle)


@csrf_exempt
@public_methods(["OPTIONS", "HEAD", "PATCH", "DELETE"])
def tus_upload(request, token: str, upload_id: str):
    def handle():
        if request.method == "OPTIONS":
            return tus.options_response()
        tus.check_version(request)
        link = _link(request, token)
        scope = tus.Scope(link_id=link.pk)
        if request.method == "HEAD":
            return tus.head(request, scope, upload_id)
        if request.method == "DELETE":
            return tus.delete(request, scope, upload_id)
        return tus.patch(request, scope, upload_id, _target(request, link))

    return _answer(request, handle)
