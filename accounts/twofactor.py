"""Two-factor log-in with django-otp: a TOTP app (RFC 6238) plus single-use backup codes.

The password step does not log anyone in when the account has a second factor: it leaves a
short-lived "pending" mark in the session, and only the code step calls `login()`. So no view
ever sees a half-logged-in user. `TwoFactorMiddleware` adds two guards on top: a session whose
user has a second factor but was not verified with it (e.g. logged in some other way) is ended,
and LOCKER_REQUIRE_2FA sends users who must enrol to the enrolment page.

API tokens are not affected: a token is already a second, revocable credential.
"""

import secrets
import time
from io import BytesIO

from django.conf import settings
from django.contrib.auth import get_user_model, logout
from django.core import signing
from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy
from django_otp import login as otp_login
from django_otp import user_has_device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.audit import A, audit
from accounts.models import AuditResult
from locker.errors import ErrorCode, error_body
from locker.network import client_network
from locker.throttle import Throttle

BACKUP_CODES = 10
PENDING_KEY = "locker_2fa_pending"
PASSWORD_AT_KEY = "locker_password_at"
PENDING_SECONDS = 300
PENDING_MAX_FAILURES = 5
DEVICE_NAME = "default"

# Codes tried at the log-in's code step. django-otp's per-device throttle is off (settings): it
# let anyone who knows the password keep the owner's phone refused. Instead (docs/security.md):
# - each log-in attempt (session) has PENDING_MAX_FAILURES wrong codes, then the password again;
# - a browser that has passed this account's second factor before (KNOWN_BROWSER_COOKIE) has
#   its own allowance, which nobody else's guesses use up;
# - any other browser counts against the account from its network (IPv6 /64), and against the
#   account from every network together: a bound on guessing however many sessions and
#   addresses an attacker uses, which can only hold back the owner's log-ins from browsers the
#   account has not seen (their known browsers still log in).
CODE_THROTTLE_BROWSER = Throttle("2fa-browser", limit=10, window=900)
CODE_THROTTLE_NETWORK = Throttle("2fa-network", limit=10, window=3600)
CODE_THROTTLE_ACCOUNT = Throttle("2fa-account", limit=20, window=86400)
KNOWN_BROWSER_COOKIE = "locker_2fa_browser"
KNOWN_BROWSER_DAYS = 90
_KNOWN_BROWSER_SALT = "accounts.twofactor.known-browser"


class CodeThrottled(Exception):
    """Too many codes were tried; this one was not checked."""

    def __init__(self, wait: int):
        super().__init__(wait)
        self.wait = wait


# --- State of a user --------------------------------------------------------------------------


def user_has_2fa(user) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def user_must_enrol(user) -> bool:
    required = settings.LOCKER_REQUIRE_2FA
    if required == "all" or (required == "staff" and user.is_staff):
        return not user_has_2fa(user)
    return False


# --- Enrolment --------------------------------------------------------------------------------


def totp_device_pending(*, user) -> TOTPDevice:
    """The unconfirmed device being enrolled (a new secret the first time)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=False)
    return device


def totp_qr_svg(device: TOTPDevice) -> bytes:
    """The otpauth:// URL as an SVG QR code, drawn here: the secret never leaves the server."""
    import qrcode
    import qrcode.image.svg

    image = qrcode.make(device.config_url, image_factory=qrcode.image.svg.SvgPathImage)
    out = BytesIO()
    image.save(out)
    return out.getvalue()


def totp_secret_text(device: TOTPDevice) -> str:
    """The key in base32, grouped by four, for apps where the QR code cannot be scanned."""
    from base64 import b32encode

    secret = b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def _new_backup_codes(*, user) -> list[str]:
    static, _ = StaticDevice.objects.get_or_create(
        user=user, name="backup", defaults={"confirmed": True}
    )
    static.token_set.all().delete()
    codes = [StaticToken.random_token() for _ in range(BACKUP_CODES)]
    StaticToken.objects.bulk_create([StaticToken(device=static, token=code) for code in codes])
    return codes


def totp_enrol_confirm(*, user, device: TOTPDevice, code: str) -> list[str] | None:
    """Confirm the device with a code from the app; returns the new backup codes (shown once),
    or None when the code is wrong."""
    if device.user_id != user.pk or device.confirmed:
        return None
    if not device.verify_token(code.replace(" ", "")):
        return None
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        codes = _new_backup_codes(user=user)
        audit(A.TWO_FACTOR_ENABLED, actor=user, target=user)
    return codes


def backup_codes_regenerate(*, user) -> list[str]:
    with transaction.atomic():
        codes = _new_backup_codes(user=user)
        audit(A.TWO_FACTOR_ENABLED, actor=user, target=user, backup_codes="regenerated")
    return codes


def backup_codes_left(*, user) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


def _devices_delete(user) -> None:
    TOTPDevice.objects.filter(user=user).delete()
    StaticDevice.objects.filter(user=user).delete()


def two_factor_disable(*, user) -> None:
    """The user turns it off (the view asks for the password first)."""
    with transaction.atomic():
        _devices_delete(user)
        audit(A.TWO_FACTOR_DISABLED, actor=user, target=user)


def two_factor_reset(*, user, by) -> None:
    """Staff recovery for a user who lost their phone and codes: remove their second factor
    and end their sessions; they log in with the password and may enrol again."""
    from accounts.services import user_sessions_end

    with transaction.atomic():
        _devices_delete(user)
        user_sessions_end(user=user)
        audit(A.TWO_FACTOR_RESET, actor=by, target=user)


def second_factor_verify(*, user, code: str):
    """The device that accepts `code` (TOTP first, then a backup code, which is used up), or
    None. django-otp refuses replayed TOTP codes; guessing is limited by the callers (see
    CODE_THROTTLE_*), not per device."""
    code = code.replace(" ", "").strip()
    if not code:
        return None
    with transaction.atomic():
        for device in TOTPDevice.objects.filter(user=user, confirmed=True):
            if device.verify_token(code):
                return device
        for device in StaticDevice.objects.filter(user=user, confirmed=True):
            if device.verify_token(code):
                return device
    return None


# --- The log-in steps -------------------------------------------------------------------------


def password_confirmed(request: HttpRequest) -> None:
    """The user has just typed their password (log-in or re-authentication)."""
    request.session[PASSWORD_AT_KEY] = time.time()


def password_recent(request: HttpRequest) -> bool:
    at = request.session.get(PASSWORD_AT_KEY)
    return at is not None and time.time() - at < settings.LOCKER_REAUTH_MINUTES * 60


def pending_start(request: HttpRequest, *, user, backend: str, next_url: str) -> None:
    request.session.cycle_key()
    request.session[PENDING_KEY] = {
        "uid": user.pk,
        "backend": backend,
        "at": time.time(),
        "next": next_url,
        "failures": 0,
    }


def pending_user(request: HttpRequest):
    """The user who gave the right password and still owes a code, or None (expired or absent)."""
    pending = request.session.get(PENDING_KEY)
    if not pending or time.time() - pending["at"] > PENDING_SECONDS:
        return None
    return get_user_model().objects.filter(pk=pending["uid"], is_active=True).first()


def known_browser(request: HttpRequest, *, user) -> str | None:
    """The id of this browser when it passed `user`'s second factor before (a signed cookie,
    bound to the user and their current TOTP device: a reset or new enrolment forgets every
    browser), else None."""
    raw = request.COOKIES.get(KNOWN_BROWSER_COOKIE)
    if not raw:
        return None
    try:
        data = signing.loads(raw, salt=_KNOWN_BROWSER_SALT, max_age=KNOWN_BROWSER_DAYS * 86400)
    except signing.BadSignature:
        return None
    if not isinstance(data, dict) or data.get("u") != user.pk:
        return None
    if not TOTPDevice.objects.filter(pk=data.get("d"), user=user, confirmed=True).exists():
        return None
    return str(data.get("b", ""))[:64] or None


def known_browser_remember(request: HttpRequest, response, *, user) -> None:
    """Mark this browser as one that passed `user`'s second factor (after the code step or
    enrolment): its code attempts get their own allowance from then on."""
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    if device is None:
        return
    browser = known_browser(request, user=user) or secrets.token_urlsafe(16)
    value = signing.dumps({"u": user.pk, "d": device.pk, "b": browser}, salt=_KNOWN_BROWSER_SALT)
    response.set_cookie(
        KNOWN_BROWSER_COOKIE,
        value,
        max_age=KNOWN_BROWSER_DAYS * 86400,
        path=reverse("login"),
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )


def _code_attempt_take(request: HttpRequest, *, user) -> None:
    """Count this code attempt before checking it; raises CodeThrottled when over a limit."""
    browser = known_browser(request, user=user)
    if browser is not None:
        buckets = [(CODE_THROTTLE_BROWSER, f"{user.pk}:{browser}")]
    else:
        buckets = [
            (CODE_THROTTLE_NETWORK, f"{user.pk}:{client_network(request)}"),
            (CODE_THROTTLE_ACCOUNT, str(user.pk)),
        ]
    with transaction.atomic():
        # The database cache's incr is a read then a write: the user's row lock makes it exact
        # across processes (Redis's incr is atomic anyway).
        list(get_user_model().objects.select_for_update().filter(pk=user.pk).values_list("pk"))
        for throttle, ident in buckets:
            # In order, so that an attempt refused for its network does not use up the
            # account's allowance as well.
            wait = throttle.take(ident)
            if wait is not None:
                raise CodeThrottled(wait)


def pending_finish(request: HttpRequest, code: str):
    """Check the code; on success log the user in (verified) and return the next URL.

    Returns None for a wrong code; after PENDING_MAX_FAILURES the password step starts over.
    Raises CodeThrottled, without checking the code, when too many were tried."""
    from django.contrib.auth import login

    user = pending_user(request)
    if user is None:
        return None
    pending = request.session[PENDING_KEY]
    _code_attempt_take(request, user=user)
    device = second_factor_verify(user=user, code=code)
    if device is None:
        pending["failures"] += 1
        if pending["failures"] >= PENDING_MAX_FAILURES:
            del request.session[PENDING_KEY]
        else:
            request.session[PENDING_KEY] = pending
        audit(A.TWO_FACTOR_FAILURE, subject=user, target=user, result=AuditResult.FAILURE)
        return None
    del request.session[PENDING_KEY]
    # Read by the log-in signal's audit record.
    request.locker_second_factor = "backup_code" if isinstance(device, StaticDevice) else "totp"
    login(request, user, backend=pending["backend"])
    otp_login(request, device)
    password_confirmed(request)
    return pending["next"]


# --- The guard --------------------------------------------------------------------------------

ALWAYS_OPEN = ("/static/", "/healthz", "/s/", "/r/", "/accounts/logout/")
UNVERIFIED = "unverified"
MUST_ENROL = "must_enrol"


def _is_api(request) -> bool:
    return request.path.startswith("/api/")


def _bearer_token_request(request) -> bool:
    """An API request that names a bearer token. Its session is never consulted: the token
    authenticates it (accounts.authentication) or it is refused with 401. Any other
    Authorization header (Basic, junk) decides nothing and leaves the session in charge."""
    if not _is_api(request):
        return False
    scheme = request.META.get("HTTP_AUTHORIZATION", "").split(None, 1)
    return bool(scheme) and scheme[0].lower() == "bearer"


def session_refusal(user) -> str | None:
    """Why a logged-in session of `user` may not be used yet: UNVERIFIED (the account has a
    second factor this session did not pass), MUST_ENROL (LOCKER_REQUIRE_2FA), or None.

    Kept on the request's user object, which the middleware and the API share."""
    if hasattr(user, "_locker_session_refusal"):
        return user._locker_session_refusal
    if not user.is_verified() and user_has_device(user):
        refusal = UNVERIFIED
    elif user_must_enrol(user):
        refusal = MUST_ENROL
    else:
        refusal = None
    user._locker_session_refusal = refusal
    return refusal


UNVERIFIED_MESSAGE = gettext_lazy("Log in again with your second factor.")
MUST_ENROL_MESSAGE = gettext_lazy("Set up two-factor log-in in the web interface first.")


class TwoFactorMiddleware:
    """Sessions only (API requests with a bearer token pass): end unverified sessions of 2FA
    users, force enrolment. The API's session authentication applies the same rule
    (accounts.authentication), so the API never serves such a session whatever this decides."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if (
            user is None
            or not user.is_authenticated
            or _bearer_token_request(request)
            or request.path.startswith(ALWAYS_OPEN)
        ):
            return self.get_response(request)
        refusal = session_refusal(user)
        if refusal == UNVERIFIED:
            # Logged in without the second factor (another log-in path): not acceptable.
            logout(request)
            if _is_api(request):
                return JsonResponse(
                    error_body(ErrorCode.NOT_AUTHENTICATED, UNVERIFIED_MESSAGE), status=401
                )
            return redirect(f"{reverse('login')}?{urlencode({'next': request.get_full_path()})}")
        if refusal == MUST_ENROL and not request.path.startswith("/accounts/2fa/setup"):
            if _is_api(request):
                return JsonResponse(
                    error_body(ErrorCode.PERMISSION_DENIED, MUST_ENROL_MESSAGE), status=403
                )
            return redirect("two_factor_setup")
        return self.get_response(request)
