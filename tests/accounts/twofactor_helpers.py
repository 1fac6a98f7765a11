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
