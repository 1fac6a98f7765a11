"""Audit log pages: your own activity, and the staff view with filters and a CSV export."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache

from accounts.api.audit import AuditFilterForm
from accounts.audit import audit_csv_rows, audit_events_describe, audit_events_for_user
from accounts.models import AuditAction

PAGE_SIZE = 50


def _page(request: HttpRequest, events):
    page = Paginator(events, PAGE_SIZE).get_page(request.GET.get("page"))
    # Each target named as people say it, with a constant number of queries a page.
    page.object_list = audit_events_describe(page.object_list)
    return page


@never_cache
@login_required
def activity(request: HttpRequest) -> HttpResponse:
    events = audit_events_for_user(user=request.user)
    return render(request, "accounts/activity.html", {"page": _page(request, events)})


def _staff_filter(request: HttpRequest) -> AuditFilterForm:
    if not request.user.is_staff:
        raise PermissionDenied
    data = request.GET.copy()
    data["scope"] = "all"
    return AuditFilterForm(data)


@never_cache
@login_required
def audit_log(request: HttpRequest) -> HttpResponse:
    form = _staff_filter(request)
    events = form.events(viewer=request.user) if form.is_valid() else None
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "form": form,
        "page": _page(request, events) if events is not None else None,
        "actions": AuditAction.choices,
        "query": query.urlencode(),
    }
    return render(
        request, "accounts/audit.html", context, status=200 if events is not None else 400
    )


@login_required
def audit_export(request: HttpRequest) -> HttpResponse:
    """The filtered log as CSV, streamed row by row (any size, constant memory)."""
    form = _staff_filter(request)
    if not form.is_valid():
        return audit_log(request)
    events = form.events(viewer=request.user)
    response = StreamingHttpResponse(audit_csv_rows(events), content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f"attachment; filename*=UTF-8''locker-audit-{stamp}.csv"
    response["Cache-Control"] = "no-store"
    return response
