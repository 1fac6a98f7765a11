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
