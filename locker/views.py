"""Error pages: JSON under /api/, HTML elsewhere."""

import sys

from django.http import JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from locker import outages
from locker.errors import answers_json, code_for_status, error_body


def error_response(request, status: int, message: str):
    """An error answer: `{"code", "detail"}` (locker.errors) under /api/ and to the public link
    routes' JSON clients, the error page elsewhere."""
    if answers_json(request):
        return JsonResponse(error_body(code_for_status(status), message), status=status)
    return render(request, "error.html", {"status": status, "message": message}, status=status)


def not_found(request, exception=None):
    if request.path.startswith("/api/"):
        return error_response(request, 404, _("Not found."))
    # The page's heading already says "Page not found": the sentence says what may have happened.
    return error_response(
        request, 404, _("There is nothing at this address: it may have been moved or deleted.")
    )


def forbidden(request, exception=None):
    return error_response(request, 403, _("You do not have permission to do this."))


def bad_request(request, exception=None):
    from locker.parsers import FormBodyRefused

    if isinstance(exception, FormBodyRefused):
        return error_response(request, 400, str(exception))
    return error_response(request, 400, _("The request could not be understood."))


def server_error(request):
    # Django calls this while handling the exception: an outage raised outside a view (say, by a
    # middleware loading the session) still gets its 503/507 answer, not this generic one.
    exc = sys.exc_info()[1]
    if exc is not None:
        outage = outages.outage_for(exc)
        if outage is not None:
            return outages.outage_response(request, outage)
    return error_response(request, 500, _("Something went wrong on our side. Please try again."))
