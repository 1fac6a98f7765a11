"""The file pages. They render a shell (breadcrumb, toolbar, dialogs); the listing and every
change go through the REST API from static/js/files*.js, so the pages hold no business rule."""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from files.selectors import folder_breadcrumbs, folder_get_for_user


@require_GET
@login_required
def root_page(request):
    context = {"mode": "folder", "folder_id": "", "breadcrumb": [], "title": _("My files")}
    return render(request, "files/browser.html", context)


@require_GET
@login_required
def folder_page(request, folder_id):
    # The one access check: a foreign, trashed or unknown id is a 404 page.
    folder = folder_get_for_user(user=request.user, folder_id=folder_id)
    context = {
        "mode": "folder",
        "folder_id": folder.public_id,
        "breadcrumb": [{"id": f.public_id, "name": f.name} for f in folder_breadcrumbs(folder)],
        "title": folder.name,
    }
    return render(request, "files/browser.html", context)


@require_GET
@login_required
def search_page(request):
    query = request.GET.get("q", "").strip()
    context = {"mode": "search", "query": query, "title": _("Search")}
    return render(request, "files/browser.html", context)


@require_GET
@login_required
def trash_page(request):
    return render(request, "files/trash.html", {"trash_days": settings.LOCKER_TRASH_DAYS})
