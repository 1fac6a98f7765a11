"""The web pages of webhooks: the list with its form, an endpoint's delivery log."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from locker.show_once import show_once_stash, show_once_take
from webhooks import selectors, services
from webhooks.forms import WebhookForm
from webhooks.models import Webhook


def _add_errors(form, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc)


@login_required
def webhook_list(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = WebhookForm(request.POST, user=request.user)
        if form.is_valid():
            try:
                webhook, secret = services.webhook_create(
                    owner=request.user,
                    url=form.cleaned_data["url"],
                    events=form.cleaned_data["events"],
                    scope=form.cleaned_data.get("scope") or Webhook.Scope.MINE,
                )
            except ValidationError as exc:
                _add_errors(form, exc)
            else:
                # Shown once, after the redirect (locker.show_once): a reload shows it no more.
                show_once_stash(
                    request, key="webhook-secret", value=[str(webhook.public_id), secret]
                )
                return redirect("webhooks:detail", webhook_id=webhook.public_id)
    else:
        form = WebhookForm(user=request.user)
    context = {
        "form": form,
        "webhooks": list(selectors.webhook_list(user=request.user)),
        "max": settings.LOCKER_WEBHOOK_MAX_PER_USER,
    }
    return render(request, "webhooks/list.html", context)


def _own(request: HttpRequest, webhook_id) -> Webhook:
    webhook = selectors.webhook_get(user=request.user, public_id=webhook_id)
    if webhook is None:
        raise Http404
    return webhook


@login_required
def webhook_detail(request: HttpRequest, webhook_id) -> HttpResponse:
    webhook = _own(request, webhook_id)
    new_secret = None
    if shown := show_once_take(request, key="webhook-secret"):
        shown_id, secret = shown
        new_secret = secret if shown_id == str(webhook.public_id) else None
    context = {
        "webhook": webhook,
        "deliveries": list(
            selectors.delivery_log(webhook=webhook)[: settings.LOCKER_WEBHOOK_LOG_SIZE]
        ),
        "new_secret": new_secret,
    }
    return render(request, "webhooks/detail.html", context)


@require_POST
@login_required
def webhook_test(request: HttpRequest, webhook_id) -> HttpResponse:
    webhook = _own(request, webhook_id)
    try:
        services.webhook_send_test(webhook=webhook)
    except services.SendTestRefused as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("A test event was queued; its result shows below."))
    return redirect("webhooks:detail", webhook_id=webhook.public_id)


@require_POST
@login_required
def webhook_delete(request: HttpRequest, webhook_id) -> HttpResponse:
    services.webhook_delete(webhook=_own(request, webhook_id))
    messages.success(request, _("The webhook was deleted."))
    return redirect("webhooks:list")
