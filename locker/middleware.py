class SecurityHeadersMiddleware:
    """Headers every response carries unless a view has set its own (share pages tighten them).

    Cache-Control: pages and API answers are per user (or carry a CSRF token), so no cache may
    keep them, the browser's included (a shared computer's back button after log-out). Views
    that may be cached say so themselves (thumbnails, downloads); static files are served by
    WhiteNoise before this middleware, with their own headers."""

    CSP = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        "media-src 'self' blob:; connect-src 'self'; font-src 'self'; object-src 'none'; "
        "frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
    )

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", self.CSP)
        response.headers.setdefault("Cache-Control", "private, no-store")
        response.headers.setdefault(
            "Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()"
        )
        return response


class NulInQueryMiddleware:
    """A NUL character (`%00`) anywhere in the query string answers 400.

    No query parameter of Locker may hold one: PostgreSQL refuses NUL in every string ("A string
    literal cannot contain NUL"), so `?search=a%00b` reached the database and answered 500.
    Refused here once, before any view, rather than in every view that reads a parameter."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        # The raw query string: parsing it (request.GET) would raise TooManyFieldsSent first
        # for a long one that the view answers in its own words. Only `%00` (or a raw NUL)
        # decodes to NUL.
        query = request.META.get("QUERY_STRING", "")
        if "%00" in query or "\x00" in query:
            from django.utils.translation import gettext as _

            from locker.views import error_response

            return error_response(
                request, 400, _("The address contains a NUL character, which is not allowed.")
            )
        return self.get_response(request)
