"""Single sign-on with OpenID Connect (docs/sso.md).

The protocol is Authlib's (its Django client): the authorization-code flow with PKCE (S256),
`state` and `nonce` kept in the session, the token exchange, and the ID token's signature (the
provider's JWKS) and claims (iss, aud, exp, iat, nonce) checked before anything here reads it.
This module adds what is Locker's: the provider's metadata and keys fetched with a timeout and
kept in the shared cache, who may log in (groups, e-mail domains), how an SSO identity becomes
or finds a Locker account, and `OidcSessionMiddleware`, which re-asks the provider about SSO
sessions so that a user removed from the allowed groups loses their sessions.
"""

import hashlib
import logging
import re
import time
from dataclasses import dataclass

import requests
from authlib.integrations.base_client import MismatchingStateError, OAuthError
from authlib.integrations.django_client import DjangoIntegration, DjangoOAuth2App
from django.conf import settings
from django.contrib.auth import logout
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from joserfc.errors import JoseError
from requests.adapters import HTTPAdapter

from accounts.audit import A, audit
from accounts.models import AuditResult, OidcIdentity, User

logger = logging.getLogger(__name__)

CALLBACK_PATH = "/accounts/oidc/callback/"
SESSION_KEY = "locker_oidc"  # the SSO part of a session: identity, tokens, last re-check
PENDING_KEY = "locker_oidc_pending"  # log-ins started in this session, by state
PENDING_MAX = 5  # log-ins started and not finished kept per session (older ones dropped)
PENDING_SECONDS = 600
METADATA_SECONDS = 3600  # discovery document and keys kept this long in the cache
JWKS_REFETCH_SECONDS = 60  # an unknown key id fetches the keys again at most this often
MAX_DOCUMENT_BYTES = 512 * 1024  # metadata, keys and userinfo larger than this are refused
REAUTH_LEEWAY = 60  # seconds of clock difference allowed on a fresh log-in's auth_time
PROVIDER_DOWN_SECONDS = 60  # a provider that could not be reached is not asked again so soon
# ID tokens signed with the provider's own (public) keys only: never `none` (which OpenID
# Discovery lets a provider announce for the code flow), nor HMAC with the client secret.
ID_TOKEN_ALGORITHMS = {
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA",
}  # fmt: skip


def enabled() -> bool:
    return bool(settings.LOCKER_OIDC_ISSUER)


def password_login_allowed(user, *, backend: str | None = None) -> bool:
    """LOCKER_PASSWORD_LOGIN, for Locker's own (local) passwords: everyone (`all`), staff only
    as a break-glass way in (`staff`), or nobody (`none`: single sign-on only). A password the
    directory checked (LDAP, accounts/ldap.py) is the organisation's own log-in, not a local
    one: it is not concerned."""
    backend = getattr(user, "backend", "") if backend is None else backend
    if backend == "accounts.ldap.LdapBackend":
        return True
    mode = settings.LOCKER_PASSWORD_LOGIN
    return mode == "all" or (mode == "staff" and (user.is_staff or user.is_superuser))


def password_form_shown() -> bool:
    """Whether the log-in page shows the password form: some password may be used there."""
    return settings.LOCKER_PASSWORD_LOGIN != "none" or bool(settings.LOCKER_LDAP_URL)


def redirect_uri() -> str:
    return settings.LOCKER_BASE_URL + CALLBACK_PATH


def button_label() -> str:
    return settings.LOCKER_OIDC_BUTTON or _("Log in with single sign-on")


def provider_name() -> str:
    return settings.LOCKER_OIDC_BUTTON or settings.LOCKER_OIDC_ISSUER


class OidcUnavailable(Exception):
    """The identity provider could not be reached or answered nonsense (503, not 500)."""


class OidcRefused(Exception):
    """This log-in is refused; `reason` is for the audit log, `message` for the person."""

    def __init__(self, reason: str, message: str):
        super().__init__(reason)
        self.reason = reason
        self.message = message


def oidc_settings_check(app_configs=None, **kwargs):
    """accounts.E010: SSO half configured; accounts.E011: password log-in off with no SSO (nobody
    could log in); accounts.E012: an issuer that is not https outside of local tests."""
    from django.core.checks import Error

    from locker.checks import _is_local

    errors = []
    issuer = settings.LOCKER_OIDC_ISSUER
    if issuer and not settings.LOCKER_OIDC_CLIENT_ID:
        errors.append(
            Error(
                "LOCKER_OIDC_ISSUER is set but LOCKER_OIDC_CLIENT_ID is not.",
                hint="Register Locker at the identity provider (docs/sso.md) and set both.",
                id="accounts.E010",
            )
        )
    if settings.LOCKER_PASSWORD_LOGIN != "all" and not issuer and not settings.LOCKER_LDAP_URL:
        errors.append(
            Error(
                f"LOCKER_PASSWORD_LOGIN is {settings.LOCKER_PASSWORD_LOGIN!r} but neither single "
                "sign-on (LOCKER_OIDC_ISSUER) nor LDAP (LOCKER_LDAP_URL) is on: users could not "
                "log in.",
                hint="Set LOCKER_OIDC_ISSUER or LOCKER_LDAP_URL, or LOCKER_PASSWORD_LOGIN=all.",
                id="accounts.E011",
            )
        )
    from urllib.parse import urlsplit

    parts = urlsplit(issuer)
    if issuer and parts.scheme != "https" and not _is_local(parts.hostname or ""):
        errors.append(
            Error(
                f"LOCKER_OIDC_ISSUER ({issuer}) is not an https:// address.",
                hint="The provider's keys and tokens must come over TLS.",
                id="accounts.E012",
            )
        )
    return errors


# --- The provider's documents -----------------------------------------------------------------


class AnswerTooLarge(requests.RequestException):
    pass


class _BoundedAdapter(HTTPAdapter):
    """Every answer from the provider (discovery, keys, token, userinfo) read within
    LOCKER_OIDC_TIMEOUT in all and up to MAX_DOCUMENT_BYTES. requests' own timeout is per read:
    a server sending a byte a second would otherwise hold the worker as long as it likes, and
    an endless body would be read to its end."""

    def send(self, request, stream=False, timeout=None, **kwargs):
        deadline = time.monotonic() + settings.LOCKER_OIDC_TIMEOUT
        response = super().send(request, stream=True, timeout=timeout, **kwargs)
        body = bytearray()
        try:
            while chunk := response.raw.read1(64 * 1024, decode_content=True):
                body += chunk
                if len(body) > MAX_DOCUMENT_BYTES:
                    raise AnswerTooLarge(f"more than {MAX_DOCUMENT_BYTES} bytes", response=response)
                if time.monotonic() > deadline:
                    raise requests.Timeout("the answer took too long", response=response)
        except Exception:
            response.close()
            raise
        response._content = bytes(body)
        response._content_consumed = True
        return response


def _session(session: requests.Session | None = None) -> requests.Session:
    session = session or requests.Session()
    session.mount("http://", _BoundedAdapter())
    session.mount("https://", _BoundedAdapter())
    return session


def _get_json(url: str) -> dict:
    """GET a JSON document from the provider: bounded in time and size."""
    try:
        with _session() as http:
            response = http.get(url, timeout=settings.LOCKER_OIDC_TIMEOUT)
    except requests.RequestException as exc:
        raise OidcUnavailable(f"{url}: {exc}") from exc
    if response.status_code != 200:
        raise OidcUnavailable(f"{url} answered {response.status_code}")
    body = response.content
    try:
        import json

        document = json.loads(body)
    except ValueError as exc:
        raise OidcUnavailable(f"{url} did not answer JSON") from exc
    if not isinstance(document, dict):
        raise OidcUnavailable(f"{url} did not answer a JSON object")
    return document


def _cache_key(kind: str) -> str:
    digest = hashlib.sha256(settings.LOCKER_OIDC_ISSUER.encode()).hexdigest()[:32]
    return f"oidc:{kind}:{digest}"


def provider_metadata() -> dict:
    """The issuer's discovery document (cached); its `issuer` must be the configured one."""
    key = _cache_key("metadata")
    metadata = cache.get(key)
    if metadata is None:
        if cache.get(_cache_key("down")):
            # Unreachable a moment ago: log-ins started meanwhile do not each wait for it.
            raise OidcUnavailable("the provider could not be reached a moment ago")
        issuer = settings.LOCKER_OIDC_ISSUER
        try:
            metadata = _get_json(issuer + "/.well-known/openid-configuration")
        except OidcUnavailable:
            cache.set(_cache_key("down"), 1, PROVIDER_DOWN_SECONDS)
            raise
        if metadata.get("issuer", "").rstrip("/") != issuer:
            raise OidcUnavailable(f"the discovery document names another issuer than {issuer}")
        for field in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not isinstance(metadata.get(field), str):
                raise OidcUnavailable(f"the discovery document has no {field}")
        cache.set(key, metadata, METADATA_SECONDS)
    return metadata


def provider_keys(*, force: bool = False) -> dict:
    """The provider's signing keys (cached). `force` fetches them again (a key id we do not
    know: the provider rotated its keys), at most once a minute whatever tokens arrive."""
    key = _cache_key("jwks")
    keys = None if force else cache.get(key)
    if force and not cache.add(_cache_key("jwks-refetch"), 1, JWKS_REFETCH_SECONDS):
        keys = cache.get(key)
    if keys is None:
        keys = _get_json(provider_metadata()["jwks_uri"])
        cache.set(key, keys, METADATA_SECONDS)
    return keys


class _App(DjangoOAuth2App):
    """Authlib's client, with the metadata and keys from our cache (fetched with a timeout)."""

    def load_server_metadata(self):
        metadata = dict(self.server_metadata)
        announced = metadata.get("id_token_signing_alg_values_supported") or ["RS256"]
        algorithms = [alg for alg in announced if alg in ID_TOKEN_ALGORITHMS]
        metadata["id_token_signing_alg_values_supported"] = algorithms or ["RS256"]
        return metadata

    def _get_oauth_client(self, **metadata):
        return _session(super()._get_oauth_client(**metadata))

    def fetch_jwk_set(self, force=False):
        return provider_keys(force=force)


def _client() -> _App:
    metadata = dict(provider_metadata())
    metadata["_loaded_at"] = time.time()  # Authlib's mark of loaded metadata
    return _App(
        DjangoIntegration("locker_oidc"),
        name="locker_oidc",
        client_id=settings.LOCKER_OIDC_CLIENT_ID,
        client_secret=settings.LOCKER_OIDC_CLIENT_SECRET,
        client_kwargs={
            "scope": settings.LOCKER_OIDC_SCOPES,
            "code_challenge_method": "S256",
            "default_timeout": settings.LOCKER_OIDC_TIMEOUT,
        },
        **metadata,
    )


# --- Log-in -----------------------------------------------------------------------------------


def login_start(request: HttpRequest, *, next_url: str, reauth: bool = False) -> HttpResponse:
    """Redirect to the provider. `reauth` asks it for a fresh log-in (prompt=login, max_age=0),
    as creating an API token needs."""
    client = _client()
    extra = {"prompt": "login", "max_age": "0"} if reauth else {}
    pending = {
        state: data
        for state, data in request.session.get(PENDING_KEY, {}).items()
        if time.time() - data["at"] < PENDING_SECONDS
    }
    # Authlib keeps each started log-in's state, nonce and PKCE verifier in the session; a
    # page reloaded many times must not grow the session without end: keep the newest few.
    oldest_first = sorted(pending, key=lambda s: pending[s]["at"])
    for state in oldest_first[: max(0, len(pending) - PENDING_MAX + 1)]:
        client.framework.clear_state_data(request.session, state)
        del pending[state]
    started = client.create_authorization_url(redirect_uri(), **extra)
    client.save_authorize_data(request, redirect_uri=redirect_uri(), **started)
    pending[started["state"]] = {"at": time.time(), "next": next_url, "reauth": reauth}
    request.session[PENDING_KEY] = pending
    return HttpResponseRedirect(started["url"])


@dataclass
class LoginResult:
    user: User
    next_url: str
    reauth: bool


def _refused(reason: str, message: str, **extra) -> OidcRefused:
    refused = OidcRefused(reason, message)
    refused.extra = extra
    return refused


def _audit_refusal(refused: OidcRefused) -> None:
    """Recorded once the log-in is over, outside any transaction that its refusal undid."""
    extra = dict(getattr(refused, "extra", {}))
    audit(
        A.LOGIN_FAILURE,
        target_type="user",
        target_label=str(extra.pop("username", ""))[:150],
        result=AuditResult.FAILURE,
        source="oidc",
        reason=refused.reason,
        **extra,
    )


def login_finish(request: HttpRequest) -> LoginResult:
    """Check the provider's answer on the callback and return whom to log in.

    Raises OidcRefused (with the audit record written) or OidcUnavailable."""
    try:
        return _login_finish(request)
    except OidcRefused as refused:
        _audit_refusal(refused)
        raise


def _login_finish(request: HttpRequest) -> LoginResult:
    state = request.GET.get("state", "")
    pending = request.session.get(PENDING_KEY, {})
    started = pending.pop(state, None) if state else None
    request.session[PENDING_KEY] = pending
    if started is None or time.time() - started["at"] > PENDING_SECONDS:
        raise _refused(
            "state",
            _(
                "This log-in was not started from this browser, or took too long. "
                "Start again from the log-in page."
            ),
        )
    if request.GET.get("error"):
        # Shown only for a log-in this browser started, and only as an OAuth error code: no
        # sentence of an outsider's on our page.
        error = request.GET["error"]
        error = error if re.fullmatch(r"[a-z_]{1,40}", error) else "unknown_error"
        raise _refused(
            "provider_error",
            _("The identity provider did not log you in (%(error)s).") % {"error": error},
            error=error,
        )
    client = _client()
    try:
        token = client.authorize_access_token(
            request,
            claims_options={
                "iss": {"essential": True, "values": [settings.LOCKER_OIDC_ISSUER]},
                "aud": {"essential": True, "values": [settings.LOCKER_OIDC_CLIENT_ID]},
                "exp": {"essential": True},
                "nonce": {"essential": True},
            },
            leeway=60,
        )
    except MismatchingStateError:
        raise _refused("state", _("This log-in was not started from this browser.")) from None
    except OAuthError as exc:
        raise _refused(
            "token",
            _("The identity provider refused to complete the log-in."),
            error=str(exc.error or "")[:100],
        ) from None
    except JoseError as exc:
        raise _refused(
            "id_token",
            _(
                "The identity provider's answer could not be trusted (its ID token is invalid: "
                "%(error)s). Nobody was logged in."
            )
            % {"error": exc.error},
            error=str(exc.error)[:100],
        ) from None
    except requests.RequestException as exc:
        raise OidcUnavailable(str(exc)) from exc
    except (ValueError, KeyError, TypeError) as exc:
        # A token answer that is not JSON, keys that cannot be read: the provider is broken.
        raise OidcUnavailable(f"unexpected answer: {exc!r}") from exc
    claims = token.get("userinfo")
    if not claims:
        raise _refused("id_token", _("The identity provider sent no ID token."))
    claims = dict(claims)
    if token.get("access_token") and provider_metadata().get("userinfo_endpoint"):
        # Many providers put e-mail, names and groups in userinfo only (oidc-provider's
        # conformIdTokenClaims, Entra, Google): merged under the ID token's own claims, and
        # only when userinfo speaks of the same subject (OpenID Connect Core 5.3.2).
        info = _userinfo(token["access_token"]) or {}
        if str(info.get("sub", "")) == str(claims.get("sub")):
            claims = {**info, **claims}
    if started["reauth"]:
        auth_time = claims.get("auth_time")
        if not isinstance(auth_time, int | float) or auth_time < started["at"] - REAUTH_LEEWAY:
            raise _refused(
                "not_fresh",
                _("The identity provider did not ask for your password again. Try again."),
            )
    user = identity_login(claims=claims)
    if started["reauth"] and (not request.user.is_authenticated or request.user.pk != user.pk):
        raise _refused("reauth_other_user", _("You logged in as someone else. Try again."))
    request.session[SESSION_KEY] = {
        "id_token": token.get("id_token", ""),
        "access_token": token.get("access_token", ""),
        "refresh_token": token.get("refresh_token", ""),
        "checked": time.time(),
        "auth_time": claims.get("auth_time"),
    }
    return LoginResult(user=user, next_url=started["next"], reauth=started["reauth"])


def _groups(claims: dict) -> list[str] | None:
    """The groups claim as a list of names, or None when the provider did not send it."""
    value = claims.get(settings.LOCKER_OIDC_GROUPS_CLAIM)
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        return []
    # Keycloak names groups by path ("/staff"): accept both spellings.
    return [str(group).lstrip("/") for group in value[:1000]]


def groups_allowed(groups: list[str] | None) -> bool:
    allowed = {group.lstrip("/") for group in settings.LOCKER_OIDC_ALLOWED_GROUPS}
    return not allowed or bool(allowed & set(groups or []))


def _staff_from(groups: list[str] | None, *, current: bool) -> bool:
    staff_group = settings.LOCKER_OIDC_STAFF_GROUP.lstrip("/")
    if not staff_group or groups is None:
        return current
    return staff_group in groups


def identity_login(*, claims: dict) -> User:
    """The Locker account for these (already verified) ID-token claims: found by (issuer,
    subject), else linked by verified e-mail when LOCKER_OIDC_LINK_BY_EMAIL allows it, else
    created when LOCKER_OIDC_CREATE_USERS does. Groups and staff status are re-read now.

    Raises OidcRefused."""
    issuer = settings.LOCKER_OIDC_ISSUER
    subject = str(claims.get("sub", ""))
    if len(subject) > 255:
        subject = ""  # longer than OpenID Connect allows; cut, it could be someone else's
    username = str(claims.get(settings.LOCKER_OIDC_USERNAME_CLAIM) or "")[:150]
    email = str(claims.get("email") or "")
    if len(email) > 254:
        email = ""  # not cut: a cut address could end in another domain
    groups = _groups(claims)
    who = {"username": username or subject, "subject": subject}
    if not subject:
        raise _refused("no_subject", _("The identity provider did not say who you are."), **who)
    if not groups_allowed(groups):
        raise _refused(
            "group",
            _("Your account at the identity provider is not in a group allowed to use Locker."),
            **who,
        )
    domains = settings.LOCKER_OIDC_ALLOWED_DOMAINS
    # The domain of an address the provider checked: many let users type any address.
    # Google: a personal Google account keeps its verified address at a former employer's
    # domain after the person left; only `hd` (the Workspace domain) says the account is the
    # organisation's.
    google = issuer == "https://accounts.google.com"
    if domains and (
        claims.get("email_verified") is not True
        or email.rpartition("@")[2].lower() not in domains
        or (google and str(claims.get("hd", "")).lower() not in domains)
    ):
        raise _refused(
            "domain", _("Your e-mail address is not in a domain allowed to use Locker."), **who
        )
    with transaction.atomic():
        identity = (
            OidcIdentity.objects.select_related("user")
            .select_for_update()
            .filter(issuer=issuer, subject=subject)
            .first()
        )
        if identity is None:
            user = _user_for_new_identity(claims=claims, username=username, email=email, who=who)
            try:
                with transaction.atomic():
                    identity = OidcIdentity.objects.create(
                        user=user, issuer=issuer, subject=subject
                    )
            except IntegrityError:
                # The same person's first log-in in two tabs at once: the other one won.
                raise _refused(
                    "concurrent", _("This log-in was not started from this browser.")
                ) from None
        user = identity.user
        if not user.is_active:
            raise _refused("inactive", _("This account is deactivated."), **who)
        was_staff = user.is_staff
        user.is_staff = _staff_from(groups, current=user.is_staff)
        if user.is_staff != was_staff:
            user.save(update_fields=["is_staff"])
            audit(A.USER_STAFF_CHANGED, actor=user, target=user, is_staff=user.is_staff, by="oidc")
        identity.groups = groups if groups is not None else identity.groups
        identity.checked_at = timezone.now()
        identity.save(update_fields=["groups", "checked_at"])
    return user


def _user_for_new_identity(*, claims: dict, username: str, email: str, who: dict) -> User:
    from accounts import services

    existing = User.objects.filter(email__iexact=email).first() if email else None
    if existing is not None:
        # The same address up to ASCII case only: the database's UPPER() also folds `ı` into
        # `I` (and `ſ` into `S`), so `victim@ımail.example` would link to victim@imail.example.
        same = existing.email.encode().lower() == email.encode().lower()
        if settings.LOCKER_OIDC_LINK_BY_EMAIL and claims.get("email_verified") is True and same:
            return existing
        raise _refused(
            "email_taken",
            _(
                "A Locker account already uses this e-mail address. An administrator can "
                "allow single sign-on to link to it."
            ),
            **who,
        )
    if not settings.LOCKER_OIDC_CREATE_USERS:
        raise _refused(
            "no_account", _("You have no Locker account. Ask an administrator for one."), **who
        )
    if not email:
        raise _refused(
            "no_email", _("The identity provider did not give your e-mail address."), **who
        )
    # Django's usernames allow letters, digits and @.+-_ only, compared as Django saves them
    # (NFKC: full-width `ａｄｍｉｎ` is `admin`).
    base = User.normalize_username(username or email.partition("@")[0])
    base = re.sub(r"[^\w.@+-]", "-", base)[:120] or "user"
    candidate = base
    if User.objects.filter(username__iexact=candidate).exists():
        # Someone else has this name (a local account): keep both, tell them apart.
        candidate = f"{base}-{hashlib.sha256(who['subject'].encode()).hexdigest()[:8]}"
    display_name = str(claims.get("name") or "")[:150]
    groups = _groups(claims)
    try:
        return services.user_create(
            username=candidate,
            email=email,
            display_name=display_name,
            is_staff=_staff_from(groups, current=False),
        )
    except ValidationError:
        raise _refused(
            "invalid_identity",
            _("Locker could not make an account from what the identity provider sent."),
            **who,
        ) from None


def session_fresh_auth_at(request: HttpRequest) -> float | None:
    """When the provider last checked this SSO user's credentials (auth_time), if known."""
    data = request.session.get(SESSION_KEY) or {}
    at = data.get("auth_time")
    return float(at) if isinstance(at, int | float) else None


def is_sso_session(request: HttpRequest) -> bool:
    return enabled() and SESSION_KEY in getattr(request, "session", {})


# --- Logout -----------------------------------------------------------------------------------


def end_session_url(*, id_token: str) -> str | None:
    """Where to send the browser to end its session at the provider (RP-initiated logout), or
    None when the provider has no end_session_endpoint (or cannot be reached now)."""
    from authlib.common.urls import add_params_to_uri

    try:
        endpoint = provider_metadata().get("end_session_endpoint")
    except OidcUnavailable:
        return None
    if not isinstance(endpoint, str) or not endpoint:
        return None
    params = {
        "client_id": settings.LOCKER_OIDC_CLIENT_ID,
        "post_logout_redirect_uri": settings.LOCKER_BASE_URL + "/accounts/login/",
    }
    if id_token:
        params["id_token_hint"] = id_token
    return add_params_to_uri(endpoint, params)


# --- Sessions: re-checked at the provider -----------------------------------------------------


def _userinfo(access_token: str) -> dict | None:
    """The provider's userinfo for this access token; None when the provider refuses the token
    (expired or revoked). Raises OidcUnavailable when it cannot be asked."""
    endpoint = provider_metadata().get("userinfo_endpoint")
    if not endpoint:
        raise OidcUnavailable("the provider has no userinfo endpoint")
    try:
        with _session() as http:
            response = http.get(
                endpoint,
                headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
                timeout=settings.LOCKER_OIDC_TIMEOUT,
            )
    except requests.RequestException as exc:
        raise OidcUnavailable(str(exc)) from exc
    if response.status_code in (400, 401, 403):
        return None
    if response.status_code != 200:
        raise OidcUnavailable(f"userinfo answered {response.status_code}")
    try:
        data = response.json()
    except ValueError as exc:
        raise OidcUnavailable("userinfo did not answer JSON") from exc
    return data if isinstance(data, dict) else None


def _refresh(data: dict) -> dict | None:
    """New tokens from the refresh token, or None when there is none or it is refused."""
    if not data.get("refresh_token"):
        return None
    client = _client()
    try:
        with client._get_oauth_client(**client.server_metadata) as session:
            token = session.refresh_token(
                client.server_metadata["token_endpoint"], refresh_token=data["refresh_token"]
            )
    except OAuthError as exc:
        logger.info("SSO refresh token refused: %s", exc)
        return None
    except requests.RequestException as exc:
        raise OidcUnavailable(str(exc)) from exc
    data = dict(data)
    data["access_token"] = token.get("access_token", "")
    data["refresh_token"] = token.get("refresh_token") or data["refresh_token"]
    data["id_token"] = token.get("id_token") or data.get("id_token", "")
    return data


def session_recheck(request: HttpRequest) -> str | None:
    """Ask the provider again whether this SSO session's user may still use Locker (at most
    every LOCKER_OIDC_RECHECK). Returns the reason to end the session, or None to go on.

    The access token from the log-in (renewed with the refresh token when the provider gave
    one) reads the userinfo endpoint: a user no longer in an allowed group, or whose tokens
    the provider refuses (account disabled, session ended there), is logged out. A provider
    that cannot be reached leaves the session as it is (and is asked again next request)."""
    data = request.session.get(SESSION_KEY)
    if not data or time.time() - data.get("checked", 0) < settings.LOCKER_OIDC_RECHECK_SECONDS:
        return None
    if cache.get(_cache_key("down")):
        return None  # unreachable a moment ago: no request of anyone's waits for it again
    try:
        info = _userinfo(data.get("access_token", "")) if data.get("access_token") else None
        if info is None:
            data = _refresh(data)
            if data is None:
                return "tokens_refused"
            info = _userinfo(data["access_token"])
            if info is None:
                return "tokens_refused"
    except OidcUnavailable as exc:
        if isinstance(exc.__cause__, AnswerTooLarge):
            # This user's profile only (others' are read): one they may have grown themselves
            # so that the re-check never concludes. Not confirmed, so not kept.
            return "userinfo_too_large"
        logger.warning("SSO session not re-checked: the identity provider: %s", exc)
        if isinstance(exc.__cause__, requests.ConnectionError | requests.Timeout):
            # Down (not one user's odd answer, which must not spare the others' re-checks).
            cache.set(_cache_key("down"), 1, PROVIDER_DOWN_SECONDS)
        return None
    groups = _groups(info)
    if groups is not None and not groups_allowed(groups):
        return "group"
    user = request.user
    identity = OidcIdentity.objects.filter(
        user=user, issuer=settings.LOCKER_OIDC_ISSUER, subject=str(info.get("sub", ""))
    ).first()
    if identity is None:
        return "identity"
    if groups is not None:
        is_staff = _staff_from(groups, current=user.is_staff)
        if is_staff != user.is_staff:
            User.objects.filter(pk=user.pk).update(is_staff=is_staff)
            user.is_staff = is_staff
            audit(A.USER_STAFF_CHANGED, actor=user, target=user, is_staff=is_staff, by="oidc")
        OidcIdentity.objects.filter(pk=identity.pk).update(groups=groups, checked_at=timezone.now())
    data["checked"] = time.time()
    request.session[SESSION_KEY] = data
    return None


SESSION_ENDED_MESSAGE = gettext_lazy("Your single sign-on session has ended. Log in again.")
PASSWORD_OFF_MESSAGE = gettext_lazy(
    "Log-in with a password is switched off: log in with single sign-on."
)


def password_session_refused(request: HttpRequest) -> bool:
    """LOCKER_PASSWORD_LOGIN switched to `staff` or `none`: a session that a local password
    opened before (not single sign-on, not the directory's password) of a user who may no
    longer use one ends, rather than outliving the switch by weeks."""
    from django.contrib.auth import BACKEND_SESSION_KEY

    if settings.LOCKER_PASSWORD_LOGIN == "all" or is_sso_session(request):
        return False
    backend = request.session.get(BACKEND_SESSION_KEY, "")
    return not password_login_allowed(request.user, backend=backend)


class OidcSessionMiddleware:
    """For SSO sessions: re-check at the provider (session_recheck) and end the session when it
    says no; and two-factor is the provider's job, so the TOTP guard does not apply to them.
    Other sessions end when LOCKER_PASSWORD_LOGIN no longer lets their password log in."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if (
            user is None
            or not user.is_authenticated
            or request.path.startswith(("/static/", "/healthz"))
            # An API request with a token is the token's (it does not use the session); on a
            # page the header means nothing and must not spare the session its re-check.
            or (
                request.path.startswith("/api/")
                and request.META.get("HTTP_AUTHORIZATION", "").lower().startswith("bearer ")
            )
        ):
            return self.get_response(request)
        sso = is_sso_session(request)
        if sso:
            reason = session_recheck(request)
        elif password_session_refused(request):
            reason = "password_login_off"
        else:
            return self.get_response(request)
        if reason is not None:
            audit(
                A.SSO_SESSION_ENDED,
                actor=user,
                target=user,
                result=AuditResult.FAILURE,
                reason=reason,
            )
            logout(request)
            message = SESSION_ENDED_MESSAGE if sso else PASSWORD_OFF_MESSAGE
            if request.path.startswith("/api/"):
                return JsonResponse({"detail": str(message)}, status=401)
            # (Before the messages middleware: the log-in page says it from the query string.)
            return redirect(reverse("login") + ("?sso_ended=1" if sso else ""))
        user._locker_session_refusal = None  # accounts.twofactor.session_refusal
        return self.get_response(request)


def unavailable_response(request: HttpRequest) -> HttpResponse:
    """503 naming the identity provider, as locker/outages.py answers for our own parts."""
    message = _(
        "The identity provider (%(provider)s) cannot be reached right now, so single sign-on "
        "does not work. Please try again in a minute."
    ) % {"provider": provider_name()}
    html = render_to_string(
        "outage.html", {"status": 503, "part": "identity provider", "message": message}
    )
    response = HttpResponse(html, status=503)
    response["Retry-After"] = "60"
    return response
