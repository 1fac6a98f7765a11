"""Changing the password on the page and through the API, and what happens to API tokens."""

import pytest
from rest_framework.test import APIClient

from accounts.models import ApiToken
from tests.fixtures.users import api_client_for

pytestmark = pytest.mark.django_db

PASSWORD_API = "/api/v1/me/password/"
NEW = "brand new secret 77"


def test_unticking_the_box_keeps_the_tokens(client, alice):
    script = api_client_for(alice)
    client.force_login(alice)
    response = client.post(
        "/accounts/password_change/",
        {"old_password": "alice-password-1", "new_password1": NEW, "new_password2": NEW},
    )
    assert response.status_code == 302
    assert script.get("/api/v1/me/").status_code == 200
    alice.refresh_from_db()
    assert alice.check_password(NEW)


def test_a_wrong_old_password_on_the_page_changes_nothing(client, alice):
    script = api_client_for(alice)
    client.force_login(alice)
    response = client.post(
        "/accounts/password_change/",
        {
            "old_password": "wrong",
            "new_password1": NEW,
            "new_password2": NEW,
            "revoke_tokens": "on",
        },
    )
    assert response.status_code == 200
    assert "old_password" in response.context["form"].errors
    assert script.get("/api/v1/me/").status_code == 200


def test_the_api_can_keep_the_tokens(alice):
    other = api_client_for(alice)
    caller = api_client_for(alice)
    response = caller.post(
        PASSWORD_API,
        {"current_password": "alice-password-1", "new_password": NEW, "revoke_tokens": False},
        format="json",
    )
    assert response.status_code == 200 and response.json() == {"tokens_revoked": 0}
    assert other.get("/api/v1/me/").status_code == 200
    assert caller.get("/api/v1/me/").status_code == 200


def test_the_api_refuses_a_wrong_current_password_next_to_the_field(alice_api, alice):
    response = alice_api.post(
        PASSWORD_API, {"current_password": "wrong", "new_password": NEW}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["errors"] == {"current_password": ["This password is not correct."]}
    alice.refresh_from_db()
    assert alice.check_password("alice-password-1")
    assert ApiToken.objects.usable().filter(user=alice).count() == 1


def test_wrong_current_passwords_count_towards_the_log_in_lock_out(alice_api):
    statuses = [
        alice_api.post(
            PASSWORD_API, {"current_password": f"guess {n}", "new_password": NEW}, format="json"
        ).status_code
        for n in range(6)
    ]
    assert statuses[:4] == [400] * 4 and statuses[4:] == [429, 429]
    right = alice_api.post(
        PASSWORD_API, {"current_password": "alice-password-1", "new_password": NEW}, format="json"
    )
    assert right.status_code == 429
    assert "Too many failed log-in attempts" in right.json()["detail"]


def test_the_api_refuses_a_weak_new_password(alice_api):
    response = alice_api.post(
        PASSWORD_API,
        {"current_password": "alice-password-1", "new_password": "123"},
        format="json",
    )
    assert response.status_code == 400
    assert "new_password" in response.json()["errors"]


def test_a_session_needs_csrf_and_stays_logged_in_after_the_change(alice):
    browser = APIClient(enforce_csrf_checks=True)
    browser.force_login(alice)
    body = {"current_password": "alice-password-1", "new_password": NEW}
    assert browser.post(PASSWORD_API, body, format="json").status_code == 403
    browser.get("/accounts/profile/")  # sets the CSRF cookie, as the pages do
    csrf = browser.cookies["csrftoken"].value
    response = browser.post(PASSWORD_API, body, format="json", HTTP_X_CSRFTOKEN=csrf)
    assert response.status_code == 200
    assert browser.get("/api/v1/me/").status_code == 200


def test_anonymous_callers_cannot_change_a_password():
    response = APIClient().post(
        PASSWORD_API, {"current_password": "x", "new_password": NEW}, format="json"
    )
    assert response.status_code == 401


def test_changepassword_command_revokes_the_api_tokens(alice, monkeypatch, capsys):
    """Django's `manage.py changepassword` sets the password outside the project's services:
    the command is overridden so that it revokes the tokens and audits, as every change does."""
    from django.core.management import call_command

    from accounts.models import AuditEvent

    script = api_client_for(alice)
    monkeypatch.setattr("getpass.getpass", lambda prompt="Password: ": NEW)
    call_command("changepassword", "alice")
    assert "1 API token(s) revoked" in capsys.readouterr().out
    alice.refresh_from_db()
    assert alice.check_password(NEW)
    assert script.get("/api/v1/me/").status_code == 401
    assert not ApiToken.objects.filter(user=alice, revoked_at__isnull=True).exists()
    event = AuditEvent.objects.get(action="password.changed")
    assert (event.subject, event.extra) == (alice, {"how": "command", "tokens_revoked": 1})
