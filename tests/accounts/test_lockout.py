import json

import pytest
from django.conf import settings
from django.test import RequestFactory

from accounts.views import lockout_response

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"


def fail_login(client, username: str, times: int):
    return [
        client.post(LOGIN, {"username": username, "password": "wrong guess"}) for _ in range(times)
    ]


def test_five_failures_lock_the_username_out_even_with_the_right_password(client, alice):
    responses = fail_login(client, "alice", 5)
    assert [r.status_code for r in responses[:4]] == [200] * 4
    assert responses[4].status_code == 429
    response = client.post(LOGIN, {"username": "alice", "password": "alice-password-1"})
    assert response.status_code == 429
    assert "Too many failed log-in attempts" in response.content.decode()
    minutes = round(settings.AXES_COOLOFF_TIME * 60)
    assert f"try again in {minutes} minutes" in response.content.decode()
    assert response["Retry-After"] == str(minutes * 60)
    assert "_auth_user_id" not in client.session


def test_lockout_answer_does_not_depend_on_whether_the_user_exists(client, alice):
    existing = fail_login(client, "alice", 6)[-1]
    unknown = fail_login(client, "nobody-here", 6)[-1]
    assert existing.status_code == unknown.status_code == 429
    assert existing.content.decode().replace("alice", "X") == unknown.content.decode().replace(
        "nobody-here", "X"
    )


def test_another_username_from_the_same_address_is_not_locked(client, alice, bob):
    fail_login(client, "alice", 6)
    response = client.post(LOGIN, {"username": "bob", "password": "bob-password-1"})
    assert response.status_code == 302


def test_success_before_the_limit_resets_the_count(client, alice):
    fail_login(client, "alice", 4)
    client.post(LOGIN, {"username": "alice", "password": "alice-password-1"})
    client.post("/accounts/logout/")
    responses = fail_login(client, "alice", 4)
    assert all(r.status_code == 200 for r in responses)


def test_lockout_on_an_api_path_answers_json():
    request = RequestFactory().post("/api/v1/anything/")
    response = lockout_response(request, None, {"username": "alice"})
    assert response.status_code == 429
    assert response["Content-Type"] == "application/json"
    assert "Too many failed log-in attempts" in json.loads(response.content)["detail"]
