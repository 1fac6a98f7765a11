"""Two-factor log-in with django-otp: a TOTP app (RFC 6238) plus single-use backup codes.

The password step does not log anyone in when the account has a second factor: it leaves a
short-lived "pending" mark in the session, and only the code step calls `login()`. So no view
ever sees a half-logged-in user. `TwoFactorMiddleware` adds two guards on top: a session whose
user has a second factor but was not verified with it (e.g. logged in some other way) is ended,
and LOCKER_REQUIRE_2FA sends users who must enrol to the enrolment page.

API tokens are not affected: a token is already a second, revocable credential.
"""

import time
from io import BytesIO

from django.conf import settings
from django.contrib.auth import get_user_model, logout
from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django_otp import login as otp_login
from django_otp import user_has_device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.audit import A, audit
from accounts.models import AuditResult

BACKUP_CODES = 10
PENDING_KEY = "locker_2fa_pending"
PASSWORD_AT_KEY = "locker_password_at"
PENDING_SECONDS = 300
PENDING_MAX_FAILURES = 5
DEVICE_NAME = "default"


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
    None. django-otp throttles each device after failures and refuses replayed TOTP codes."""
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


def pending_finish(request: HttpRequest, code: str):
    """Check the code; on success log the user in (verified) and return the next URL.

    Returns None for a wrong code; after PENDING_MAX_FAILURES the password step starts over."""
    from django.contrib.auth import login

    user = pending_user(request)
    if user is None:
        return None
    pending = request.session[PENDING_KEY]
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


def _is_api(request) -> bool:
    return request.path.startswith("/api/")


class TwoFactorMiddleware:
    """Sessions only (API tokens pass): end unverified sessions of 2FA users, force enrolment."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if (
            user is None
            or not user.is_authenticated
            or request.META.get("HTTP_AUTHORIZATION")
            or request.path.startswith(ALWAYS_OPEN)
        ):
            return self.get_response(request)
        if not user.is_verified() and user_has_device(user):
            # Logged in without the second factor (another log-in path): not acceptable.
            logout(request)
            if _is_api(request):
                return JsonResponse(
                    {"detail": _("Log in again with your second factor.")}, status=401
                )
            return redirect(f"{reverse('login')}?{urlencode({'next': request.get_full_path()})}")
        if user_must_enrol(user) and not request.path.startswith("/accounts/2fa/setup"):
            if _is_api(request):
                return JsonResponse(
                    {"detail": _("Set up two-factor log-in in the web interface first.")},
                    status=403,
                )
            return redirect("two_factor_setup")
        return self.get_response(request)
