"""Issue 11: a non-staff user probing usernames through the audit API, and API tokens that
outlived a password change.

- `GET /api/v1/audit/?user=X` answered 200 for an existing name and 400 for an unknown one.
- A password change (or reset) left every API token working: whoever had learnt the old
  password and made a token kept access. Changing the password now revokes them by default
  (the form's box is ticked; the API's `revoke_tokens` defaults to true).
"""

import re

import pytest
from django.core import mail

from accounts.models import ApiToken, AuditEvent
from tests.fixtures.users import api_client_for

pytestmark = pytest.mark.django_db

NEW = "brand new secret 77"


def test_the_audit_api_does_not_tell_a_non_staff_user_which_usernames_exist(alice_api, bob):
    existing = alice_api.get("/api/v1/audit/?user=bob")
    unknown = alice_api.get("/api/v1/audit/?user=nobody-by-that-name")
    assert existing.status_code == unknown.status_code == 403
    assert existing.json() == unknown.json()
    # Her own name is no secret to her; staff may still look anyone up.
    assert alice_api.get("/api/v1/audit/?user=ALICE").status_code == 200


def test_the_audit_api_still_tells_staff_about_an_unknown_user(staff_api):
    response = staff_api.get("/api/v1/audit/?scope=all&user=nobody-by-that-name")
    assert response.status_code == 400
    assert "no user with that name" in response.json()["detail"]


def test_changing_the_password_on_the_page_revokes_api_tokens_by_default(client, alice):
    stolen = api_client_for(alice)  # made by someone who had learnt the old password
    client.force_login(alice)
    page = client.get("/accounts/password_change/").content.decode()
    box = re.search(r'<input[^>]*name="revoke_tokens"[^>]*>', page).group(0)
    assert 'type="checkbox"' in box and "checked" in box
    response = client.post(
        "/accounts/password_change/",
        {
            "old_password": "alice-password-1",
            "new_password1": NEW,
            "new_password2": NEW,
            "revoke_tokens": "on",  # what the browser sends for the ticked box
        },
    )
    assert response.status_code == 302
    assert stolen.get("/api/v1/me/").status_code == 401
    assert not ApiToken.objects.usable().filter(user=alice).exists()
    event = AuditEvent.objects.get(action="password.changed", subject=alice)
    assert event.extra == {"how": "change", "tokens_revoked": 1}
    assert client.get("/accounts/profile/").status_code == 200  # this session stays


def test_staff_setting_a_password_in_the_admin_revokes_the_users_api_tokens(client, staff, alice):
    stolen = api_client_for(alice)  # the account is in someone else's hands: staff step in
    client.force_login(staff)
    response = client.post(
        f"/admin/accounts/user/{alice.pk}/password/",
        {"password1": NEW, "password2": NEW, "usable_password": "true"},
    )
    assert response.status_code == 302, response.content[:2000]
    alice.refresh_from_db()
    assert alice.check_password(NEW)
    assert stolen.get("/api/v1/me/").status_code == 401
    assert not ApiToken.objects.usable().filter(user=alice).exists()
    event = AuditEvent.objects.get(action="password.changed", subject=alice)
    assert event.extra == {"how": "admin", "tokens_revoked": 1}
    assert event.actor == staff


def test_changing_the_password_through_the_api_revokes_tokens_by_default(alice):
    stolen = api_client_for(alice)
    caller = api_client_for(alice)
    response = caller.post(
        "/api/v1/me/password/",
        {"current_password": "alice-password-1", "new_password": NEW},
        format="json",
    )
    assert response.status_code == 200 and response.json() == {"tokens_revoked": 2}
    assert stolen.get("/api/v1/me/").status_code == 401
    assert caller.get("/api/v1/me/").status_code == 401
    alice.refresh_from_db()
    assert alice.check_password(NEW)


@pytest.mark.django_db(transaction=True)
def test_a_password_reset_by_e_mail_revokes_api_tokens_by_default(client, alice, eager_celery):
    stolen = api_client_for(alice)
    client.post("/accounts/password_reset/", {"email": "alice@example.com"})
    link = re.search(r"https?://[^/\s]+(/accounts/reset/\S+)", mail.outbox[0].body).group(1)
    form = client.get(link, follow=True)
    box = re.search(r'<input[^>]*name="revoke_tokens"[^>]*>', form.content.decode()).group(0)
    assert "checked" in box
    response = client.post(
        form.redirect_chain[-1][0],
        {"new_password1": NEW, "new_password2": NEW, "revoke_tokens": "on"},
    )
    assert response.status_code == 302
    assert stolen.get("/api/v1/me/").status_code == 401
