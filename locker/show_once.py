"""Show a new secret once, after a redirect (post/redirect/get).

A create form that rendered its new secret (an API token, a link, backup codes) in the answer to
its POST made a browser's reload send the POST again: a second live credential the user never
saw. Instead the view stashes what must be shown in the session, redirects, and the page it
redirects to takes it out again: it is shown once, and a reload shows it no more and creates
nothing.

The stash lives in the server-side session (database or cache) for the few milliseconds between
the redirect and the next request; the secret is never in a cookie or a URL.
"""

from django.http import HttpRequest

_PREFIX = "show-once:"


def show_once_stash(request: HttpRequest, *, key: str, value) -> None:
    """Keep `value` (JSON-serialisable) for the next `show_once_take` of `key`."""
    request.session[_PREFIX + key] = value


def show_once_take(request: HttpRequest, *, key: str):
    """What was stashed under `key`, removed from the session (None when there is none)."""
    return request.session.pop(_PREFIX + key, None)
