"""Issue 11: a non-staff user probing usernames through the audit API, and API tokens that
outlived a password change.

- `GET /api/v1/audit/?user=X` answered 200 for an existing name and 400 for an unknown one.
- A password change (or reset) left every API token working: whoever had learnt the old
  password and made a token kept access. Changing the password now revokes them by default
  (the form's box is ticked; the API's `revoke_tokens` defaults to true).
"""

import pytest

pytestmark = pytest.mark.django_db


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
