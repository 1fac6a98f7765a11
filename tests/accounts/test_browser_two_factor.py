"""Two-factor log-in in a real browser: enrol, log out, log in with TOTP, use a backup code once."""

import re

import pytest
from playwright.sync_api import expect

from tests.accounts.twofactor_helpers import confirmed_device, pending_device, totp_code
from tests.fixtures.browser import password_of

pytestmark = pytest.mark.browser


def password_step(page, live_server, user):
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", password_of(user))
    page.click("#login-form button[type=submit]")
    expect(page).to_have_url(re.compile(r"/accounts/login/code/$"))


def enter_code(page, code: str):
    page.fill("#id_code", code)
    page.click("#code-form button[type=submit]")


def test_enrol_log_in_with_totp_and_use_a_backup_code_once(logged_in_page, live_server, alice):
    page = logged_in_page(alice)
    console_errors = []
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)

    page.goto(f"{live_server.url}/accounts/2fa/")
    page.click("#two-factor-setup")
    qr = page.locator("img.qr")
    expect(qr).to_be_visible()
    # Our own SVG, allowed by the CSP (img-src 'self'), was drawn.
    # wait_for_function evaluates a string in the page, which our CSP (no unsafe-eval) forbids.
    qr = page.locator("img.qr")
    for _ in range(100):
        if qr.evaluate("img => img.complete && img.naturalWidth > 0"):
            break
        page.wait_for_timeout(50)
    else:
        raise AssertionError("The QR code image never loaded.")
    page.fill("#id_code", totp_code(pending_device(alice)))
    page.click("#setup-form button[type=submit]")
    codes = page.locator("#backup-codes code").all_inner_texts()
    assert len(codes) == 10

    page.click("#logout")
    password_step(page, live_server, alice)
    enter_code(page, totp_code(confirmed_device(alice), steps_ahead=1))
    page.wait_for_selector("#logout")

    page.click("#logout")
    password_step(page, live_server, alice)
    enter_code(page, codes[0])
    page.wait_for_selector("#logout")

    page.click("#logout")
    password_step(page, live_server, alice)
    enter_code(page, codes[0])
    expect(page.locator("#code-form .errorlist")).to_contain_text("already used")
    expect(page.locator("#logout")).to_have_count(0)
    assert console_errors == []
