"""Two-factor log-in: enrolment, the code step, backup codes, staff reset, LOCKER_REQUIRE_2FA,
API tokens unaffected, and a fresh password before creating a token."""

import pytest
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import twofactor
from accounts.models import AuditEvent
from tests.accounts.twofactor_helpers import (
    confirmed_device,
    pending_device,
    totp_code,
    wrong_code,
)
from tests.fixtures.users import api_client_for

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"
CODE = "/accounts/login/code/"


def enrol(client, user) -> list[str]:
    """Enrol through the pages; returns the backup codes shown once."""
    client.force_login(user)
    page = client.get("/accounts/2fa/setup/")
    assert page.status_code == 200
    device = pending_device(user)
    response = client.post("/accounts/2fa/setup/", {"code": totp_code(device)})
    assert (response.status_code, response["Location"]) == (302, "/accounts/2fa/backup-codes/new/")
    return client.get(response["Location"]).context["codes"]


def password_step(client, user, **extra):
    return client.post(
        LOGIN, {"username": user.username, "password": f"{user.username}-password-1", **extra}
    )


def test_enrolment_shows_a_qr_code_drawn_by_us_and_the_key(client, alice):
    client.force_login(alice)
    page = client.get("/accounts/2fa/setup/").content.decode()
    assert 'src="/accounts/2fa/setup/qr.svg"' in page
    device = pending_device(alice)
    assert twofactor.totp_secret_text(device) in page
    qr = client.get("/accounts/2fa/setup/qr.svg")
    assert qr["Content-Type"] == "image/svg+xml" and "no-store" in qr["Cache-Control"]
    assert qr.content.startswith(b"<?xml") and b"<svg" in qr.content
    assert not twofactor.user_has_2fa(alice)


def test_a_wrong_code_does_not_turn_it_on(client, alice):
    client.force_login(alice)
    client.get("/accounts/2fa/setup/")
    response = client.post("/accounts/2fa/setup/", {"code": "000000"})
    assert "This code is not correct" in str(response.context["form"].errors["code"])
    assert not twofactor.user_has_2fa(alice)


def test_enrolment_confirms_the_device_and_shows_ten_backup_codes_once(client, alice):
    codes = enrol(client, alice)
    assert len(codes) == 10 and len(set(codes)) == 10
    assert twofactor.user_has_2fa(alice)
    assert AuditEvent.objects.filter(action="2fa.enabled", actor=alice).exists()
    status = client.get("/accounts/2fa/").content.decode()
    assert "10 backup codes left" in status
    assert not any(code in status for code in codes)
    assert client.get("/accounts/2fa/setup/qr.svg").status_code == 404  # the key is not re-shown
    # The codes were shown after a redirect: reloading that page shows them no more.
    assert client.get("/accounts/2fa/backup-codes/new/")["Location"] == "/accounts/2fa/"


def test_password_alone_does_not_log_in_an_enrolled_user(client, alice):
    enrol(client, alice)
    client.logout()
    logins = AuditEvent.objects.filter(action="login.success", actor=alice).count()
    response = password_step(client, alice, next="/trash/")
    assert response.status_code == 302 and response["Location"] == CODE
    assert "_auth_user_id" not in client.session
    assert client.get("/").status_code == 302  # still anonymous
    assert AuditEvent.objects.filter(action="login.success", actor=alice).count() == logins


def test_code_step_logs_in_and_goes_to_next(client, alice):
    enrol(client, alice)
    client.logout()
    password_step(client, alice, next="/trash/")
    code = totp_code(confirmed_device(alice), steps_ahead=1)
    response = client.post(CODE, {"code": code})
    assert response.status_code == 302 and response["Location"] == "/trash/"
    assert client.get("/").status_code == 200
    assert AuditEvent.objects.filter(action="login.success", actor=alice).exists()


def test_a_totp_code_is_accepted_once(client, alice):
    enrol(client, alice)
    client.logout()
    code = totp_code(confirmed_device(alice), steps_ahead=1)
    password_step(client, alice)
    assert client.post(CODE, {"code": code}).status_code == 302
    client.logout()
    password_step(client, alice)
    response = client.post(CODE, {"code": code})
    assert response.status_code == 200
    assert "not correct, or was already used" in response.content.decode()


def test_a_backup_code_works_once(client, alice):
    codes = enrol(client, alice)
    client.logout()
    password_step(client, alice)
    assert client.post(CODE, {"code": codes[0]}).status_code == 302
    assert StaticToken.objects.filter(device__user=alice).count() == 9
    client.logout()
    password_step(client, alice)
    assert client.post(CODE, {"code": codes[0]}).status_code == 200
    assert "_auth_user_id" not in client.session


def test_wrong_codes_are_audited_and_five_send_back_to_the_password(client, alice):
    enrol(client, alice)
    client.logout()
    password_step(client, alice)
    for _ in range(4):
        assert client.post(CODE, {"code": wrong_code(alice)}).status_code == 200
    response = client.post(CODE, {"code": wrong_code(alice)})
    assert response.status_code == 302 and response["Location"] == LOGIN
    assert AuditEvent.objects.filter(action="2fa.failure", subject=alice).count() == 5
    code = totp_code(confirmed_device(alice), steps_ahead=1)
    assert client.post(CODE, {"code": code})["Location"] == LOGIN  # the password first


def test_a_right_code_after_wrong_ones_logs_in(client, alice):
    """Guessing is limited per log-in attempt, network and account (tests/security/
    test_two_factor_attacks.py), not by refusing the device's right code after a wrong one."""
    enrol(client, alice)
    client.logout()
    password_step(client, alice)
    for _ in range(4):
        assert client.post(CODE, {"code": wrong_code(alice)}).status_code == 200
    code = totp_code(confirmed_device(alice), steps_ahead=1)
    assert client.post(CODE, {"code": code})["Location"] == "/"


def test_the_code_step_remembers_the_browser(client, alice):
    enrol(client, alice)
    client.logout()  # the test client's log-out also forgets every cookie
    assert twofactor.KNOWN_BROWSER_COOKIE not in client.cookies
    password_step(client, alice)
    client.post(CODE, {"code": totp_code(confirmed_device(alice), steps_ahead=1)})
    cookie = client.cookies[twofactor.KNOWN_BROWSER_COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "Lax" and cookie["max-age"]


def test_the_code_step_without_the_password_step_goes_to_log_in(client, alice):
    enrol(client, alice)
    client.logout()
    assert client.get(CODE)["Location"] == LOGIN
    assert client.post(CODE, {"code": "123456"})["Location"] == LOGIN


def test_a_session_without_the_second_factor_is_ended(client, alice):
    """A log-in path that skipped the code step (here: force_login) is refused everywhere."""
    enrol(client, alice)
    client.logout()
    client.force_login(alice)
    response = client.get("/trash/")
    assert response.status_code == 302 and response["Location"].startswith(LOGIN)
    assert "_auth_user_id" not in client.session
    client.force_login(alice)
    assert client.get("/api/v1/me/").status_code == 401


def test_admin_log_in_goes_through_our_two_step_log_in(client):
    response = client.get("/admin/login/?next=/admin/")
    assert response.status_code == 302
    assert response["Location"] == f"{LOGIN}?next=/admin/"


def test_api_tokens_are_not_affected_by_two_factor(client, alice):
    enrol(client, alice)
    api = api_client_for(alice)
    assert api.get("/api/v1/me/").status_code == 200


def test_disabling_needs_the_password(client, alice):
    enrol(client, alice)
    client.post("/accounts/2fa/disable/", {"password": "wrong"})
    assert twofactor.user_has_2fa(alice)
    client.post("/accounts/2fa/disable/", {"password": "alice-password-1"})
    assert not twofactor.user_has_2fa(alice)
    assert not StaticToken.objects.filter(device__user=alice).exists()
    assert AuditEvent.objects.filter(action="2fa.disabled", actor=alice).exists()


def test_new_backup_codes_replace_the_old_ones(client, alice):
    old = enrol(client, alice)
    response = client.post(
        "/accounts/2fa/backup-codes/", {"password": "alice-password-1"}, follow=True
    )
    new = response.context["codes"]
    assert set(new).isdisjoint(old)
    # Shown once: a reload of the page shows them no more and makes no new ones.
    again = client.get("/accounts/2fa/backup-codes/new/")
    assert again.status_code == 302 and not any(code in again.content.decode() for code in new)
    stored = set(StaticToken.objects.filter(device__user=alice).values_list("token", flat=True))
    assert stored == set(new)


def test_staff_reset_removes_the_second_factor_ends_sessions_and_is_audited(client, alice, staff):
    from django.test import Client

    enrol(client, alice)  # `client` is alice's verified session
    staff_client = Client()
    staff_client.force_login(staff)
    page = staff_client.get(f"/accounts/2fa/reset/{alice.pk}/")
    assert "Reset two-factor log-in" in page.content.decode()
    staff_client.post(f"/accounts/2fa/reset/{alice.pk}/")
    assert not TOTPDevice.objects.filter(user=alice).exists()
    assert client.get("/").status_code == 302
    event = AuditEvent.objects.get(action="2fa.reset")
    assert event.actor == staff and event.subject == alice
    assert password_step(Client(), alice)["Location"] == "/"  # password alone again


def test_reset_is_for_staff_only(client, alice, bob):
    client.force_login(bob)
    assert client.post(f"/accounts/2fa/reset/{alice.pk}/").status_code == 403


def test_admin_action_resets_two_factor(client, alice, staff):
    enrol(client, alice)
    client.force_login(staff)
    response = client.post(
        "/admin/accounts/user/", {"action": "reset_two_factor", "_selected_action": [alice.pk]}
    )
    assert response.status_code == 302
    assert not twofactor.user_has_2fa(alice)


@pytest.mark.parametrize(("required", "forced"), [("all", True), ("staff", False)])
def test_required_two_factor_forces_enrolment_at_next_log_in(
    client, bob, settings, required, forced
):
    settings.LOCKER_REQUIRE_2FA = required
    response = password_step(client, bob)
    assert response.status_code == 302
    page = client.get("/")
    if forced:
        assert page.status_code == 302 and page["Location"] == "/accounts/2fa/setup/"
        setup = client.get("/accounts/2fa/setup/").content.decode()
        assert "requires two-factor log-in" in setup
        assert client.get("/api/v1/me/").status_code == 403
        assert client.get("/accounts/2fa/setup/qr.svg").status_code == 200
    else:
        assert page.status_code == 200


def test_required_for_staff_forces_staff(client, staff, settings):
    settings.LOCKER_REQUIRE_2FA = "staff"
    client.force_login(staff)
    assert client.get("/")["Location"] == "/accounts/2fa/setup/"


# --- A fresh password before creating a token -------------------------------------------------


def test_creating_a_token_on_the_web_needs_a_recent_password(client, alice, settings):
    client.force_login(alice)  # a session, but no password typed in it
    response = client.post(
        "/accounts/tokens/", {"name": "laptop", "expires_in_days": "", "scopes": "*"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/accounts/reauthenticate/?next=/accounts/tokens/"
    assert not alice.api_tokens.exists()
    wrong = client.post(
        "/accounts/reauthenticate/", {"password": "nope", "next": "/accounts/tokens/"}
    )
    assert "This password is not correct." in str(wrong.context["form"].errors["password"])
    ok = client.post(
        "/accounts/reauthenticate/", {"password": "alice-password-1", "next": "/accounts/tokens/"}
    )
    assert ok["Location"] == "/accounts/tokens/"
    response = client.post(
        "/accounts/tokens/", {"name": "laptop", "expires_in_days": "", "scopes": "*"}
    )
    assert response["Location"] == "/accounts/tokens/"
    assert alice.api_tokens.filter(name="laptop").exists()


def test_reauthentication_expires(client, alice, settings):
    password_step(client, alice)
    settings.LOCKER_REAUTH_MINUTES = 0
    assert (
        client.post(
            "/accounts/tokens/", {"name": "x", "expires_in_days": "", "scopes": "*"}
        ).status_code
        == 302
    )


def test_reauthenticate_refuses_an_open_redirect(client, alice):
    client.force_login(alice)
    response = client.post(
        "/accounts/reauthenticate/", {"password": "alice-password-1", "next": "//evil.example/"}
    )
    assert response["Location"] == "/accounts/profile/"


def test_creating_a_token_through_the_api_with_a_session_needs_a_recent_password(client, alice):
    client.force_login(alice)
    response = client.post("/api/v1/tokens/", {"name": "js"}, content_type="application/json")
    assert response.status_code == 403
    assert "password again" in response.json()["detail"]
    api = api_client_for(alice)  # with a token: unaffected
    assert api.post("/api/v1/tokens/", {"name": "ci"}, format="json").status_code == 201


def test_the_login_record_says_which_second_factor_was_used(client, alice):
    codes = enrol(client, alice)
    client.logout()
    password_step(client, alice)
    client.post(CODE, {"code": codes[3]})
    event = AuditEvent.objects.filter(action="login.success", actor=alice).first()
    assert event.extra == {"second_factor": "backup_code"}


def test_the_admin_never_shows_a_devices_secret_key(client, alice, staff):
    enrol(client, alice)
    device = confirmed_device(alice)
    client.force_login(staff)
    page = client.get(f"/admin/otp_totp/totpdevice/{device.pk}/change/")
    assert page.status_code == 200
    assert device.key not in page.content.decode()
    assert client.get(f"/admin/otp_totp/totpdevice/{device.pk}/config/").status_code in (403, 404)
