"""The owner's pages: list, create, edit and revoke share links and upload links, see the logs.

Both kinds of link follow one pattern (`LinkNewView`, `LinkDetailView`, `LinkRevokeView`): a
kind's views name its form, templates, selector and services, and the flow is written once.

`/shares/new?file=<id>` (or `?folder=<id>`) is the plain-HTML way to share an item: the file
browser can link to it from each row. `static/js/sharing-dialog.js` offers the same in a dialog.
"""

from collections.abc import Callable

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View
from django.views.decorators.http import require_http_methods, require_POST

from files import services as file_services
from files.selectors import (
    file_get_for_user,
    folder_get_for_user,
    upload_in_progress_get,
    uploads_in_progress,
)
from locker.show_once import show_once_stash, show_once_take
from sharing import access, selectors, services, upload_links
from sharing.forms import LinkForm, ShareForm, UploadLinkForm, expiry_choices
from sharing.models import Link
from sharing.qr import link_qr_response


def _add_service_errors(form, exc: ValidationError) -> None:
    """Show each service error next to its field (the form's own names)."""
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc.messages)
        return
    for field, errors in exc.message_dict.items():
        if field == "expires_at" and not form.cleaned_data.get("expires_at"):
            field = "expires_in"
        form.add_error(field if field in form.fields else None, errors)


@login_required
@require_http_methods(["GET", "HEAD"])
def shares_page(request):
    shares = Paginator(selectors.share_list_for_user(user=request.user), 50).get_page(
        request.GET.get("page")
    )
    uploads = list(selectors.upload_link_list_for_user(user=request.user)[:200])
    # Each live link of the page can be copied again (its token opened here: no query).
    for link in [*shares, *uploads]:
        link.url_again = None if link.is_revoked else services.link_url_again(link)
    return render(request, "sharing/shares.html", {"shares": shares, "upload_links": uploads})


# --- One pattern for both kinds of link ------------------------------------------------------
# A kind's views name its form, templates, selector and services; the flow of each page (create,
# show and edit, revoke) is written once, in these bases.


class LinkNewView(LoginRequiredMixin, View):
    """Create a link for a target named in the query string, then redirect to the page that
    shows the new link (`LinkCreatedView`): a reload of the answer to the POST must not create a
    second live link."""

    http_method_names = ["get", "head", "post"]
    form_class: type[LinkForm]
    template_name: str
    created_url_name: str

    def target(self) -> dict:
        """The service's target arguments, looked up scoped to the owner (else 404)."""
        raise NotImplementedError

    def create(self, **kwargs) -> tuple[Link, str]:
        raise NotImplementedError

    def url(self, token: str) -> str:
        raise NotImplementedError

    def get(self, request):  # and POST: the same page, with the form's answer
        target = self.target()
        (item,) = target.values()
        form = self.form_class(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                link, token = self.create(
                    owner=request.user,
                    **target,
                    expires_at=form.clean_expiry(),
                    password=form.cleaned_data["password"],
                    **form.options(),
                )
            except ValidationError as exc:
                _add_service_errors(form, exc)
            else:
                show_once_stash(request, key=f"link:{link.public_id}", value=self.url(token))
                return redirect(self.created_url_name, link.public_id)
        return render(request, self.template_name, {"form": form, "item": item})

    post = get


class LinkOwnedMixin(LoginRequiredMixin):
    """Views of one of the owner's links, named by its public id in the URL (else 404)."""

    url_kwarg: str
    get_for_user: Callable[..., Link]  # the kind's selector: (user=, public_id=) -> link or 404

    def get_link(self) -> Link:
        return self.get_for_user(user=self.request.user, public_id=self.kwargs[self.url_kwarg])


class LinkDetailView(LinkOwnedMixin, View):
    """A link's page: its state, the form that changes it, and its log."""

    http_method_names = ["get", "head", "post"]
    form_class: type[LinkForm]
    template_name: str
    url_name: str
    updated_message: str

    def update(self, link, **changes) -> None:
        raise NotImplementedError

    def log_context(self, link) -> dict:
        """What the page shows of the link's use (paginated by `?page=`)."""
        raise NotImplementedError

    def get(self, request, **kwargs):  # and POST: the same page, with the form's answer
        link = self.get_link()
        form = self.form_class(
            request.POST or None,
            editing=True,
            has_password=link.has_password,
            initial=self.initial(link),
        )
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            password = "" if data.get("remove_password") else (data["password"] or None)
            try:
                self.update(
                    link, expires_at=form.clean_expiry(), password=password, **form.options()
                )
            except ValidationError as exc:
                _add_service_errors(form, exc)
            else:
                messages.success(request, self.updated_message)
                return redirect(self.url_name, **kwargs)
        context = {
            "link": link,
            "form": form,
            "dead_reason": access.link_dead_reason(link),
            # The owner may copy the link again (None: made before links were kept).
            "link_url": services.link_url_again(link),
        }
        return render(request, self.template_name, {**context, **self.log_context(link)})

    post = get

    def initial(self, link) -> dict:
        """The form shows the link's current options (never its expiry or password)."""
        common = self.form_class.COMMON_FIELDS
        names = [name for name in self.form_class.base_fields if name not in common]
        return {name: getattr(link, name) for name in names}


class LinkQrView(LinkOwnedMixin, View):
    """The link as an SVG QR code, for its owner only: shown on the link's page, and with
    `?download=1` as an attachment. 404 for a link made before links were kept."""

    http_method_names = ["get", "head"]
    download_name: str

    def get(self, request, **kwargs):
        url = services.link_url_again(self.get_link())
        if url is None:
            raise Http404
        attachment = bool(request.GET.get("download"))
        return link_qr_response(url, filename=self.download_name, attachment=attachment)


class LinkCreatedView(LinkOwnedMixin, View):
    """The new link, shown once (stashed in the session by `LinkNewView`); a reload goes to
    the link's page, which never shows the link. GET only: a HEAD must not use it up."""

    http_method_names = ["get"]
    detail_url_name: str

    def get(self, request, **kwargs):
        link = self.get_link()
        url = show_once_take(request, key=f"link:{link.public_id}")
        if url is None:
            return redirect(self.detail_url_name, **kwargs)
        item = link.folder if link.kind == "upload" else link.target
        context = {"link": link, "url": url, "item": item}
        return render(request, "sharing/share_created.html", context)


class LinkRevokeView(LinkOwnedMixin, View):
    """Kill a link at once, then back to the list of links.

    Only a POST with `confirm=yes` revokes: the page's script asks in a dialog and adds it;
    without the script, the Revoke button's plain POST gets the confirmation page instead.
    """

    http_method_names = ["post"]
    revoked_message: str
    confirm_title: str
    detail_url_name: str

    def revoke(self, link) -> bool:
        raise NotImplementedError

    def confirm_message(self, link) -> str:
        raise NotImplementedError

    def post(self, request, **kwargs):
        link = self.get_link()
        if request.POST.get("confirm") != "yes":
            context = {
                "title": self.confirm_title,
                "message": self.confirm_message(link),
                "action": request.path,
                "cancel_url": reverse(self.detail_url_name, kwargs=kwargs),
            }
            return render(request, "confirm_revoke.html", context)
        if self.revoke(link):
            messages.success(request, self.revoked_message)
        return redirect("sharing:shares")


# --- Share links -------------------------------------------------------------------------------


class ShareOwned(LinkOwnedMixin):
    url_kwarg = "share_id"
    get_for_user = staticmethod(selectors.share_get_for_user)


class ShareNewView(LinkNewView):
    """`/shares/new?file=<id>` (or `?folder=<id>`)."""

    form_class = ShareForm
    template_name = "sharing/share_new.html"
    created_url_name = "sharing:share_created"
    create = staticmethod(services.share_create)
    url = staticmethod(services.share_url)

    def target(self) -> dict:
        request = self.request
        if request.GET.get("file"):
            return {"file": file_get_for_user(user=request.user, file_id=request.GET["file"])}
        if request.GET.get("folder"):
            folder_id = request.GET["folder"]
            return {"folder": folder_get_for_user(user=request.user, folder_id=folder_id)}
        raise Http404


class ShareDetailView(ShareOwned, LinkDetailView):
    form_class = ShareForm
    template_name = "sharing/share_detail.html"
    url_name = "sharing:share_detail"
    updated_message = gettext_lazy("The link was updated.")

    def update(self, link, **kwargs) -> None:
        services.share_update(share=link, **kwargs)

    def log_context(self, link) -> dict:
        accesses = selectors.share_accesses(share=link)
        return {"accesses": Paginator(accesses, 100).get_page(self.request.GET.get("page"))}


class ShareQrView(ShareOwned, LinkQrView):
    download_name = "share-link-qr.svg"


class ShareCreatedView(ShareOwned, LinkCreatedView):
    detail_url_name = "sharing:share_detail"


class ShareRevokeView(ShareOwned, LinkRevokeView):
    revoked_message = gettext_lazy("The link was revoked. It stopped working at once.")
    confirm_title = gettext_lazy("Revoke this link?")
    detail_url_name = "sharing:share_detail"

    def confirm_message(self, link) -> str:
        return _(
            "The link to “%(name)s” stops working at once for everyone who has it. This "
            "cannot be undone."
        ) % {"name": link.target.name}

    def revoke(self, link) -> bool:
        return services.share_revoke(share=link)


# --- Upload links ------------------------------------------------------------------------------


class UploadLinkOwned(LinkOwnedMixin):
    url_kwarg = "link_id"
    get_for_user = staticmethod(selectors.upload_link_get_for_user)


class UploadLinkNewView(LinkNewView):
    """`/shares/uploads/new?folder=<id>`."""

    form_class = UploadLinkForm
    template_name = "sharing/upload_link_new.html"
    created_url_name = "sharing:upload_link_created"
    create = staticmethod(upload_links.upload_link_create)
    url = staticmethod(services.upload_link_url)

    def target(self) -> dict:
        folder_id = self.request.GET.get("folder", "")
        return {"folder": folder_get_for_user(user=self.request.user, folder_id=folder_id)}


class UploadLinkDetailView(UploadLinkOwned, LinkDetailView):
    form_class = UploadLinkForm
    template_name = "sharing/upload_link_detail.html"
    url_name = "sharing:upload_link_detail"
    updated_message = gettext_lazy("The upload link was updated.")

    def update(self, link, **kwargs) -> None:
        upload_links.upload_link_update(link=link, **kwargs)

    def log_context(self, link) -> dict:
        page = self.request.GET.get("page")
        return {
            "uploads": Paginator(link.uploads.order_by("-at"), 100).get_page(page),
            "in_progress": uploads_in_progress(user=self.request.user, link=link)[:100],
        }


class UploadLinkQrView(UploadLinkOwned, LinkQrView):
    download_name = "upload-link-qr.svg"


class UploadLinkCreatedView(UploadLinkOwned, LinkCreatedView):
    detail_url_name = "sharing:upload_link_detail"


class UploadLinkRevokeView(UploadLinkOwned, LinkRevokeView):
    revoked_message = gettext_lazy("The upload link was revoked. It stopped working at once.")
    confirm_title = gettext_lazy("Revoke this upload link?")
    detail_url_name = "sharing:upload_link_detail"

    def confirm_message(self, link) -> str:
        return _(
            "Nobody can send files into “%(name)s” through this link any more; uploads in "
            "progress are stopped. This cannot be undone."
        ) % {"name": link.folder.name}

    def revoke(self, link) -> bool:
        return upload_links.upload_link_revoke(link=link)


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
@require_http_methods(["GET", "HEAD"])
def send_page(request):
    """Quick send: the page's script posts the files and options to /api/v1/send/."""
    return render(request, "sharing/send.html", {"expiry_choices": expiry_choices()})
