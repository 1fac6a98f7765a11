"""The owner's pages: list, create, edit and revoke share links and upload links, see the logs.

`/shares/new?file=<id>` (or `?folder=<id>`) is the plain-HTML way to share an item: the file
browser can link to it from each row. `static/js/sharing-dialog.js` offers the same in a dialog.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from files import services as file_services
from files.selectors import (
    file_get_for_user,
    folder_get_for_user,
    upload_in_progress_get,
    uploads_in_progress,
)
from sharing import access, selectors, services, upload_links
from sharing.forms import ShareForm, UploadLinkForm, expiry_choices


def _add_service_errors(form, exc: ValidationError) -> None:
    """Show each service error next to its field (the form's own names)."""
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc.messages)
        return
    for field, errors in exc.message_dict.items():
        if field == "expires_at" and not form.cleaned_data.get("expires_at"):
            field = "expires_in"
        form.add_error(field if field in form.fields else None, errors)


def _target(request):
    if request.GET.get("file"):
        return {"file": file_get_for_user(user=request.user, file_id=request.GET["file"])}
    if request.GET.get("folder"):
        return {"folder": folder_get_for_user(user=request.user, folder_id=request.GET["folder"])}
    raise Http404


@login_required
@require_http_methods(["GET", "HEAD"])
def shares_page(request):
    shares = Paginator(selectors.share_list_for_user(user=request.user), 50).get_page(
        request.GET.get("page")
    )
    uploads = selectors.upload_link_list_for_user(user=request.user)[:200]
    return render(request, "sharing/shares.html", {"shares": shares, "upload_links": uploads})


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def share_new(request):
    target = _target(request)
    item = target.get("file") or target.get("folder")
    form = ShareForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            share, token = services.share_create(
                owner=request.user,
                **target,
                expires_at=form.clean_expiry(),
                max_downloads=data["max_downloads"],
                password=data["password"],
                allow_download=data["allow_download"],
                notify=data["notify"],
                label=data["label"],
            )
        except ValidationError as exc:
            _add_service_errors(form, exc)
        else:
            # The token is not stored: this page is the only time the link can be shown.
            return render(
                request,
                "sharing/share_created.html",
                {"share": share, "url": services.share_url(token), "item": item},
                status=201,
            )
    return render(request, "sharing/share_new.html", {"form": form, "item": item})


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def share_detail(request, share_id):
    share = selectors.share_get_for_user(user=request.user, public_id=share_id)
    form = ShareForm(
        request.POST or None,
        editing=True,
        initial={
            "max_downloads": share.max_downloads,
            "allow_download": share.allow_download,
            "notify": share.notify,
            "label": share.label,
        },
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        password = "" if data.get("remove_password") else (data["password"] or None)
        try:
            services.share_update(
                share=share,
                expires_at=form.clean_expiry(),
                max_downloads=data["max_downloads"],
                password=password,
                allow_download=data["allow_download"],
                notify=data["notify"],
                label=data["label"],
            )
        except ValidationError as exc:
            _add_service_errors(form, exc)
        else:
            messages.success(request, _("The link was updated."))
            return redirect("sharing:share_detail", share_id=share.public_id)
    accesses = Paginator(selectors.share_accesses(share=share), 100).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "sharing/share_detail.html",
        {
            "share": share,
            "form": form,
            "accesses": accesses,
            "dead_reason": access.link_dead_reason(share),
        },
    )


@login_required
@require_POST
def share_revoke(request, share_id):
    share = selectors.share_get_for_user(user=request.user, public_id=share_id)
    if services.share_revoke(share=share):
        messages.success(request, _("The link was revoked. It stopped working at once."))
    return redirect("sharing:shares")


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def upload_link_new(request):
    folder = folder_get_for_user(user=request.user, folder_id=request.GET.get("folder", ""))
    form = UploadLinkForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            link, token = upload_links.upload_link_create(
                owner=request.user,
                folder=folder,
                expires_at=form.clean_expiry(),
                max_files=data["max_files"],
                max_file_size=data["max_file_size"],
                password=data["password"],
                message=data["message"],
                label=data["label"],
                notify=data["notify"],
            )
        except ValidationError as exc:
            _add_service_errors(form, exc)
        else:
            return render(
                request,
                "sharing/share_created.html",
                {"upload_link": link, "url": services.upload_link_url(token), "item": folder},
                status=201,
            )
    return render(request, "sharing/upload_link_new.html", {"form": form, "item": folder})


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def upload_link_detail(request, link_id):
    link = selectors.upload_link_get_for_user(user=request.user, public_id=link_id)
    form = UploadLinkForm(
        request.POST or None,
        editing=True,
        initial={
            "max_files": link.max_files,
            "max_file_size": link.max_file_size or "",
            "message": link.message,
            "label": link.label,
            "notify": link.notify,
        },
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        password = "" if data.get("remove_password") else (data["password"] or None)
        try:
            upload_links.upload_link_update(
                link=link,
                expires_at=form.clean_expiry(),
                max_files=data["max_files"],
                max_file_size=data["max_file_size"],
                password=password,
                message=data["message"],
                label=data["label"],
                notify=data["notify"],
            )
        except ValidationError as exc:
            _add_service_errors(form, exc)
        else:
            messages.success(request, _("The upload link was updated."))
            return redirect("sharing:upload_link_detail", link_id=link.public_id)
    uploads = Paginator(link.uploads.order_by("-at"), 100).get_page(request.GET.get("page"))
    return render(
        request,
        "sharing/upload_link_detail.html",
        {
            "link": link,
            "form": form,
            "uploads": uploads,
            "in_progress": uploads_in_progress(user=request.user, link=link)[:100],
            "dead_reason": access.link_dead_reason(link),
        },
    )


@login_required
@require_POST
def upload_link_upload_cancel(request, link_id, reservation_id):
    """Cancel an upload a stranger is sending through one of your links: its space is free
    at once and nothing of it is kept."""
    link = selectors.upload_link_get_for_user(user=request.user, public_id=link_id)
    reservation = upload_in_progress_get(user=request.user, public_id=reservation_id)
    if reservation.link_id != link.pk:
        raise Http404
    if file_services.upload_cancel(reservation=reservation):
        messages.success(request, _("The upload was cancelled; its space is free again."))
    return redirect("sharing:upload_link_detail", link_id=link.public_id)


@login_required
@require_POST
def upload_link_revoke(request, link_id):
    link = selectors.upload_link_get_for_user(user=request.user, public_id=link_id)
    if upload_links.upload_link_revoke(link=link):
        messages.success(request, _("The upload link was revoked. It stopped working at once."))
    return redirect("sharing:shares")


@login_required
@require_http_methods(["GET", "HEAD"])
def send_page(request):
    """Quick send: the page's script posts the files and options to /api/v1/send/."""
    return render(request, "sharing/send.html", {"expiry_choices": expiry_choices()})
