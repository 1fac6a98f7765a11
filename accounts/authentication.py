from django.http import QueryDict
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.authentication import SessionScheme as _SpectacularSessionScheme
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from accounts.audit import A, audit
from accounts.models import ApiToken, hash_secret
from accounts.scopes import CONFINED_ATTRIBUTE, TOKEN_ATTRIBUTE

LAST_USED_RESOLUTION_SECONDS = 60


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <token>` with a personal API token."""

    keyword = "bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(_("Malformed Authorization header."))
        try:
            secret = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed(_("Invalid API token.")) from None
        token = (
            ApiToken.objects.usable()
            .select_related("user")
            .filter(token_hash=hash_secret(secret))
            .first()
        )
        if token is None:
            raise exceptions.AuthenticationFailed(_("Invalid, expired or revoked API token."))
        now = timezone.now()
        if token.last_used_at is None:
            # Conditional: of two simultaneous first requests only one records the first use.
            if ApiToken.objects.filter(pk=token.pk, last_used_at__isnull=True).update(
                last_used_at=now
            ):
                audit(A.TOKEN_FIRST_USE, actor=token.user, target=token, request=request._request)
        elif (now - token.last_used_at).total_seconds() > (LAST_USED_RESOLUTION_SECONDS):
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        setattr(token.user, TOKEN_ATTRIBUTE, token)
        if token.folder_id is not None:
            setattr(token.user, CONFINED_ATTRIBUTE, token.folder_id)
        return token.user, token

    def authenticate_header(self, request):
        return 'Bearer realm="api"'


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = BearerTokenAuthentication
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "A personal API token."}


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
        if (
            (request.content_type or "")[:32]
            .lower()
            .startswith(("multipart/", "application/offset+"))
        ):
            request = _HeaderTokenOnly(request)
        return super().enforce_csrf(request)


class SessionScheme(_SpectacularSessionScheme):
    """Documents it in the OpenAPI schema as the usual session cookie."""

    target_class = "accounts.authentication.SessionAuthentication"
