"""Compute TOTP codes from a device's key with django-otp's own RFC 6238 helper (no phone)."""

import time

from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice


def totp_code(device: TOTPDevice, *, steps_ahead: int = 0) -> str:
    """The code the app shows now (or `steps_ahead` time steps later: a code is accepted once,
    so a second log-in in the same 30 s uses the next step, which the tolerance allows)."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() + steps_ahead * device.step
    return f"{totp.token():0{device.digits}d}"


def pending_device(user) -> TOTPDevice:
    return TOTPDevice.objects.get(user=user, confirmed=False)


def confirmed_device(user) -> TOTPDevice:
    return TOTPDevice.objects.get(user=user, confirmed=True)


def enrol_through_pages(client, user) -> list[str]:
    """Turn two-factor log-in on as the user does (this client becomes a browser the account
    knows); returns the backup codes shown once."""
    client.force_login(user)
    client.get("/accounts/2fa/setup/")
    response = client.post(
        "/accounts/2fa/setup/", {"code": totp_code(pending_device(user))}, follow=True
    )
    # The POST redirects to the page that shows the new codes once (no secret in a POST answer).
    assert response.redirect_chain and response.status_code == 200
    return response.context["codes"]


def password_step(client, user):
    response = client.post(
        "/accounts/login/",
        {"username": user.username, "password": f"{user.username}-password-1"},
    )
    assert response.status_code == 302
    return response


def wrong_code(user) -> str:
    """A 6-digit code the user's device accepts at no time step near now."""
    device = confirmed_device(user)
    near = {totp_code(device, steps_ahead=step) for step in range(-3, 4)}
    return next(code for code in (f"{n:06d}" for n in range(100000, 999999)) if code not in near)


def attacker_guesses(user, address: str, sessions: int) -> list[int]:
    """Someone who knows the password logs in from `address` and sends wrong codes until each
    log-in attempt ends (after PENDING_MAX_FAILURES) or is refused; the code step's statuses."""
    from django.test import Client

    from accounts.twofactor import PENDING_MAX_FAILURES

    statuses = []
    for _ in range(sessions):
        attacker = Client(REMOTE_ADDR=address)
        password_step(attacker, user)
        for _ in range(PENDING_MAX_FAILURES):
            response = attacker.post("/accounts/login/code/", {"code": wrong_code(user)})
            statuses.append(response.status_code)
            if response.status_code != 200:
                break
    return statuses
