"""Public share pages and downloads (`/s/<token>…`). Every view starts with `share_resolve`."""

import functools

from django.core.exceptions import TooManyFieldsSent
from django.http import (
    Http404,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
    JsonResponse,
)
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from rest_framework.exceptions import MethodNotAllowed

from files.models import File
from files.responses import (
    INLINE_IMAGE_TYPES,
    inline_allowed,
    thumbnail_response,
    thumbnail_size_or_none,
)
from files.thumbnail_sandbox import SIZES as THUMBNAIL_SIZES
from locker import errors, outages
from sharing import access, selectors, share_downloads
from sharing.access import ShareDenied, SharePasswordRequired

# Public pages load nothing from elsewhere and may be framed by nobody.
PUBLIC_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "media-src 'self'; connect-src 'self'; frame-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; "
    "base-uri 'none'"
)


def public_headers(response: HttpResponse) -> HttpResponse:
    """The token is in the URL: it must not leak through Referer, caches or search engines."""
    response.headers.setdefault("Content-Security-Policy", PUBLIC_CSP)
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex, nofollow"
    response["Cache-Control"] = "private, no-store"
    # Inline content (a PDF in the viewer) says SAMEORIGIN itself (files.responses).
    response.headers.setdefault("X-Frame-Options", "DENY")
    return response


def denied_json(exc: ShareDenied) -> HttpResponse:
    """A refusal as the API says it: `{"code", "detail"}` (locker.errors), its status and
    headers, for programs (locker.errors.answers_json)."""
    code = errors.code_or_status(exc.code, exc.status)
    response = JsonResponse(errors.error_body(code, exc.message), status=exc.status)
    return _refusal_headers(response, exc)


def _refusal_headers(response: HttpResponse, exc: ShareDenied) -> HttpResponse:
    """What every refusal carries, page or JSON: when to retry, how to authenticate, and the
    public pages' privacy headers."""
    if exc.retry_after:
        response["Retry-After"] = str(exc.retry_after)
    if exc.status == 401:
        response["WWW-Authenticate"] = 'X-Share-Password realm="share"'
    return public_headers(response)


def _denied(request, exc: ShareDenied) -> HttpResponse:
    if errors.answers_json(request):
        return denied_json(exc)
    titles = {
        400: _("Not possible"),
        404: _("Link not found"),
        410: _("Link no longer available"),
        401: _("Password required"),
        403: _("Not allowed"),
        409: _("Not available right now"),
        429: _("Too many attempts"),
    }
    response = render(
        request,
        "sharing/unavailable.html",
        {"status": exc.status, "title": titles.get(exc.status, ""), "message": exc.message},
        status=exc.status,
    )
    return _refusal_headers(response, exc)


def public_view(view):
    """Turn every refusal into its page (404, 410, 401, 429…) with the public headers, or into
    its JSON `{"code", "detail"}` when the client asks for JSON (locker.errors.answers_json); an
    outage into its 503/507/500 answer (locker.outages), with them too."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        try:
            return public_headers(view(request, *args, **kwargs))
        except Http404:
            return _denied(request, access.ShareNotFound(_("There is no such link or file.")))
        except ShareDenied as exc:
            return _denied(request, exc)
        except Exception as exc:
            response = outages.response_for_exception(request, exc)
            if response is None:
                raise
            return public_headers(response)

    return wrapper


def public_methods(methods: list[str]):
    """Django's `require_http_methods` for the public link routes: a method the route does
    not answer is 405 with `Allow`, as JSON `method_not_allowed` to a client that asks for JSON
    (and on the JSON routes), with the public headers."""

    def decorator(view):
        @functools.wraps(view)
        def inner(request, *args, **kwargs):
            if request.method in methods:
                return view(request, *args, **kwargs)
            if errors.answers_json(request):
                detail = MethodNotAllowed(request.method).detail
                body = errors.error_body(errors.ErrorCode.METHOD_NOT_ALLOWED, detail)
                response = JsonResponse(body, status=405)
                response["Allow"] = ", ".join(methods)
            else:
                response = HttpResponseNotAllowed(methods)
            return public_headers(response)

        return inner

    return decorator


class _NotDownloadable(ShareDenied):
    status = 403
    code = errors.ErrorCode.DOWNLOAD_NOT_ALLOWED


# --- The page --------------------------------------------------------------------------------


def _previewable(share, file: File) -> bool:
    """The page may offer the file's preview: a link without a download limit (the preview
    route is not counted, so on a limited link it would be a way around the limit), a type
    shown inline, cleared by processing and, for a preview-only link's image rendition of it,
    made by the worker."""
    if share.max_downloads is not None or not inline_allowed(file.content_type):
        return False
    if not share_downloads.servable(file):
        return False
    if share_downloads.preview_is_rendition(share, file):
        return file.thumbnail_state == "ready"
    return True


def viewer_kind(share, file: File) -> str:
    """What the in-page viewer (static/js/viewer.js) shows of a shared file through the
    preview route: "image", "pdf", "video", "audio", "text", or "" for nothing (see
    `_previewable`; the viewer's many Range requests of a video are then no downloads at all).
    A preview-only link shows images and PDFs as their image rendition."""
    if not _previewable(share, file):
        return ""
    if share_downloads.preview_is_rendition(share, file):
        return "image"
    content_type = file.content_type
    if content_type in INLINE_IMAGE_TYPES:
        return "image"
    if content_type == "application/pdf":
        return "pdf"
    if content_type == "text/plain":
        return "text"
    return content_type.split("/", 1)[0]  # audio, video


def _file_context(share, file: File, *, preview_url: str) -> dict:
    kind = file.content_type.split("/", 1)[0]
    if share_downloads.preview_is_rendition(share, file):
        kind = "image"  # preview only: the image rendition
    elif file.content_type == "application/pdf":
        kind = "pdf"
    return {
        "file": file,
        "preview_url": preview_url if _previewable(share, file) else "",
        "servable": share_downloads.servable(file),
        "preview_kind": kind,
        "has_thumbnail": file.thumbnail_state == "ready" and share_downloads.servable(file),
        "view_kind": viewer_kind(share, file),
    }


def _page(request, token: str, folder_opaque: str | None):
    share = access.share_resolve(request, token)
    context = {
        "share": share,
        "token": token,
        "owner_name": share.owner.public_name,
        "base": f"/s/{token}",
        "downloads_left": (
            share.max_downloads - share.download_count if share.max_downloads else None
        ),
    }
    if share.file_id:
        if folder_opaque:
            raise Http404
        context.update(_file_context(share, share.file, preview_url=f"/s/{token}/preview"))
        return render(request, "sharing/share_file.html", context)
    folder = selectors.share_folder_get(share, folder_opaque)
    page = selectors.share_folder_page(
        share,
        folder,
        after=selectors.share_cursor_decode(share, request.GET.get("after")),
        before=selectors.share_cursor_decode(share, request.GET.get("before")),
    )
    folders, files = page.folders, page.files
    title = selectors.share_title(share)

    def crumb_name(crumb) -> str:
        return title if crumb.pk == share.folder_id else crumb.name

    context.update(
        {
            "folder": folder,
            "folder_title": crumb_name(folder),
            "next_page": page.next and selectors.share_cursor_encode(share, page.next),
            "previous_page": page.previous and selectors.share_cursor_encode(share, page.previous),
            "page_size": selectors.SHARE_PAGE_SIZE,
            "zip_url": f"/s/{token}/download"
            if folder.pk == share.folder_id
            else f"/s/{token}/folders/{share_id(share, folder)}/download",
            "breadcrumbs": [
                {"name": crumb_name(f), "id": "" if f.pk == share.folder_id else share_id(share, f)}
                for f in selectors.share_breadcrumbs(share, folder)
            ],
            "folders": [{"name": f.name, "id": share_id(share, f)} for f in folders],
            "files": [
                {
                    "name": f.name,
                    "size": f.size,
                    "content_type": f.content_type,
                    "id": share_id(share, f),
                    "ready": share_downloads.servable(f),
                    "pending": f.state == File.State.PENDING,
                    "thumbnail": f.thumbnail_state == "ready" and share_downloads.servable(f),
                    "view": viewer_kind(share, f),
                }
                for f in files
            ],
        }
    )
    return render(request, "sharing/share_folder.html", context)


def share_id(share, item) -> str:
    return selectors.share_opaque_id(share, item)


def cross_site_post(request) -> bool:
    """CSRF check of the public password forms, by Fetch Metadata and Origin.

    Django's token check cannot be used here: these pages send `Referrer-Policy: no-referrer`
    (so the token in the URL never leaks), and with it browsers send `Origin: null` on form
    posts, which Django refuses. Browsers that send Sec-Fetch-Site tell us where the post came
    from; an explicit foreign Origin is refused too. A client sending neither is not a browser
    that a third-party page could drive.
    """
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None and site not in ("same-origin", "none"):
        return True
    origin = request.headers.get("Origin")
    if origin and origin != "null":
        return origin != f"{request.scheme}://{request.get_host()}"
    return False


class CrossSiteForm(ShareDenied):
    status = 403


def password_form(request, *, error: str = "", status: int = 200) -> HttpResponse:
    return render(
        request, "sharing/password.html", {"error": error, "action": request.path}, status=status
    )


def link_unlock(request, token: str, *, resolve) -> HttpResponse:
    """The password form's POST, for either kind of link (`resolve` is the kind's access
    check): a right password sets the unlock cookie and goes back to the page with a GET."""
    if cross_site_post(request):
        raise CrossSiteForm(_("This form must be sent from this site."))
    link = resolve(request, token, require_unlock=False)
    if not link.password_hash:
        return HttpResponseRedirect(request.path)
    password = request.POST.get("password", "")
    if not access.link_password_check(request, link=link, password=password):
        if errors.answers_json(request):
            raise access.ShareWrongPassword(_("The password is not correct."))
        return password_form(request, error=_("The password is not correct."), status=403)
    if request.session.session_key:
        # A privilege change: a new session id, so a fixated one learns nothing (the unlock
        # itself is the signed cookie, bound to this link and its current password).
        request.session.cycle_key()
    response = HttpResponseRedirect(request.path)
    response.status_code = 303  # back to the page with a GET
    return access.unlock_cookie_set(response, request, link=link, token=token)


def link_page(request, token: str, *, resolve, page) -> HttpResponse:
    """A link's public page: POST is its password form; while locked, GET shows that form (a
    client asking for JSON gets the 401 `password_required` or `wrong_password` instead)."""
    if request.method == "POST":
        return link_unlock(request, token, resolve=resolve)
    try:
        return page()
    except SharePasswordRequired as exc:
        if errors.answers_json(request):
            raise
        error = exc.message if isinstance(exc, access.ShareWrongPassword) else ""
        return password_form(request, error=error)


@csrf_exempt  # see cross_site_post
@public_methods(["GET", "HEAD", "POST"])
@public_view
def share_page(request, token: str, folder_opaque: str | None = None):
    return link_page(
        request,
        token,
        resolve=access.share_resolve,
        page=lambda: _page(request, token, folder_opaque),
    )


# --- Downloads -------------------------------------------------------------------------------


def _require_download(share) -> None:
    if not share.allow_download:
        raise _NotDownloadable(_("The owner of this link allows viewing only, not downloading."))


@public_methods(["GET", "HEAD"])
@public_view
def share_download(request, token: str):
    share = access.share_resolve(request, token, resumable=True)
    _require_download(share)
    if share.file_id:
        return share_downloads.serve_file(request, share, share.file)
    try:
        selection = request.GET.getlist("item")
    except TooManyFieldsSent:  # past DATA_UPLOAD_MAX_NUMBER_FIELDS (1,000): too many items
        raise share_downloads.SelectionTooLarge() from None
    if selection:
        return share_downloads.serve_selection_zip(request, share, selection)
    if share.is_selection:
        return share_downloads.serve_selection_zip(request, share, None)
    return share_downloads.serve_folder_zip(request, share, share.folder)


@public_methods(["GET", "HEAD"])
@public_view
def share_file_download(request, token: str, file_opaque: str):
    share = access.share_resolve(request, token, resumable=True)
    file = selectors.share_file_get(share, file_opaque)
    _require_download(share)
    return share_downloads.serve_file(request, share, file)


def _shared_file(share, file_opaque: str | None):
    """The file a share route names: one of a folder share's (by opaque id) or the shared file."""
    if file_opaque:
        return selectors.share_file_get(share, file_opaque)
    if share.file_id:
        return share.file
    raise Http404


@public_methods(["GET", "HEAD"])
@public_view
def share_preview(request, token: str, file_opaque: str | None = None):
    share = access.share_resolve(request, token)
    file = _shared_file(share, file_opaque)
    if share.max_downloads is not None or not inline_allowed(file.content_type):
        raise Http404
    return share_downloads.serve_preview(request, share, file)


@public_methods(["GET", "HEAD"])
@public_view
def share_thumbnail(request, token: str, file_opaque: str | None = None):
    """A file's thumbnail inside a share page, through the same resolve as every share route."""
    share = access.share_resolve(request, token)
    file = _shared_file(share, file_opaque)
    size = thumbnail_size_or_none(request.GET.get("size"))
    # Only what processing cleared; limited links get the small size only (a 1024 px image
    # would otherwise be an uncounted download of a photo).
    if size is None or not share_downloads.servable(file):
        raise Http404
    if share.max_downloads is not None and size != THUMBNAIL_SIZES[0]:
        raise Http404
    response = thumbnail_response(request, file=file, size=size)
    if response is None:
        raise Http404
    return response


@public_methods(["GET", "HEAD"])
@public_view
def share_folder_zip(request, token: str, folder_opaque: str):
    share = access.share_resolve(request, token)
    folder = selectors.share_folder_get(share, folder_opaque)
    _require_download(share)
    return share_downloads.serve_folder_zip(request, share, folder)
