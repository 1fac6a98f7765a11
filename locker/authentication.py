"""Session authentication for the API, as the web UI uses it.

Kept out of locker.api because DRF imports authentication classes while rest_framework.views
is still loading, and locker.api imports from it.
"""

from django.http import QueryDict
from drf_spectacular.authentication import SessionScheme as _SpectacularSessionScheme
from rest_framework import authentication, exceptions


class _HeaderTokenOnly:
    """A request seen by Django's CSRF check with an empty POST, so the check takes the token
    from the X-CSRFToken header instead of parsing the body for a form field."""

    POST = QueryDict()

    def __init__(self, request):
        object.__setattr__(self, "_request", request)

    def __getattr__(self, name):
        return getattr(self._request, name)

    def __setattr__(self, name, value):
        setattr(self._request, name, value)


class SessionAuthentication(authentication.SessionAuthentication):
    """DRF's session authentication whose CSRF check never parses a multipart body.

    Django's check first looks for a `csrfmiddlewaretoken` field in `request.POST`; on a DRF
    request that parses the body, which for an upload means storing the whole file before the
    view has checked the quota or installed its streaming handler. The web UI sends the token
    in the X-CSRFToken header, which is the only place it is accepted for multipart requests
    (and for tus chunks, `application/offset+octet-stream`, which no parser reads).
    """

    def authenticate(self, request):
        """The session's user, unless the session still owes its second factor (it is ended:
        401) or must enrol first (403). Reached only when no bearer token was given, so the
        two-factor rule steps aside exactly when token authentication succeeded."""
        from django.contrib.auth import logout

        from accounts import twofactor

        result = super().authenticate(request)
        if result is None:
            return None
        refusal = twofactor.session_refusal(result[0])
        if refusal == twofactor.UNVERIFIED:
            logout(request._request)
            raise exceptions.AuthenticationFailed(twofactor.UNVERIFIED_MESSAGE)
        if refusal == twofactor.MUST_ENROL:
            raise exceptions.PermissionDenied(twofactor.MUST_ENROL_MESSAGE)
        return result

    def enforce_csrf(self, request):
        if (request.content_type or "").startswith(("multipart/", "application/offset+")):
            request = _HeaderTokenOnly(request)
        return super().enforce_csrf(request)


class SessionScheme(_SpectacularSessionScheme):
    """Documents it in the OpenAPI schema as the usual session cookie."""

    target_class = "locker.authentication.SessionAuthentication"
