"""Error pages: JSON under /api/, HTML elsewhere."""

from django.http import JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _


def _error(request, status: int, message: str):
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": message}, status=status)
    return render(request, "error.html", {"status": status, "message": message}, status=status)


def not_found(request, exception=None):
    return _error(request, 404, _("Not found."))


def forbidden(request, exception=None):
    return _error(request, 403, _("You do not have permission to do this."))


def bad_request(request, exception=None):
    return _error(request, 400, _("The request could not be understood."))


def server_error(request):
    return _error(request, 500, _("Something went wrong on our side. Please try again."))
