"""API paths without their final slash, answered as with it (every API path ends with `/`).

Every collection, item and action path of the API ends with a slash (`/api/v1/files/`,
`/api/v1/files/<id>/content/`). A client that leaves the slash out (or uses a spelling from
before the rule: `/files/<id>/content`) gets the same answer as with it, whatever the method:
not Django's APPEND_SLASH redirect, a 301 that HTTP clients follow with a GET, turning a POST or
a DELETE into a read. The resolver sends here only what no other API path matched.
"""

from django.http import Http404
from django.urls import Resolver404, resolve
from django.views.decorators.csrf import csrf_exempt


@csrf_exempt  # Only views that do their own CSRF check (DRF's) are served: see below.
def slashless(request, path: str):
    target = request.path_info + "/"
    try:
        match = resolve(target)
    except Resolver404:
        raise Http404 from None
    # DRF views check CSRF themselves (for session authentication); a view that relies on the
    # middleware's check is not served from here (the middleware saw this view, not that one).
    if match.func is slashless or not getattr(match.func, "csrf_exempt", False):
        raise Http404
    request.path_info = target
    request.path = request.path + "/"
    request.resolver_match = match
    return match.func(request, *match.args, **match.kwargs)
