import json
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "locker.settings")

# Django reads Content-Type on every request and DRF reads Accept (content negotiation) with
# the standard library's e-mail parser, whose cost grows with the square of a value's length:
# a few milliseconds at 1 KiB, tens at gunicorn's 8 KiB cap for one header line. No client
# needs either header long, so longer ones are refused before Django parses anything.
# (Locker's own parsing of header parameters is linear and bounded: locker.headers.)
HEADER_LIMITS = {"CONTENT_TYPE": ("Content-Type", 1024), "HTTP_ACCEPT": ("Accept", 1024)}


def refuse_long_headers(app):
    """Wrap a WSGI app: a request with an over-long Content-Type or Accept answers 400."""

    def bounded(environ, start_response):
        for key, (name, limit) in HEADER_LIMITS.items():
            if len(environ.get(key) or "") > limit:
                message = f"The {name} header is too long (at most {limit} characters)."
                body = json.dumps({"code": "too_large", "detail": message}).encode()
                start_response(
                    "400 Bad Request",
                    [
                        ("Content-Type", "application/json"),
                        ("Content-Length", str(len(body))),
                        ("X-Content-Type-Options", "nosniff"),
                        ("Cache-Control", "no-store"),
                    ],
                )
                return [body]
        return app(environ, start_response)

    return bounded


application = refuse_long_headers(get_wsgi_application())
