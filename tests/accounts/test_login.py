import pytest

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"


def test_login_with_the_right_password_logs_in_and_redirects(client, alice):
    response = client.post(LOGIN, {"username": "alice", "password": "alice-password-1"})
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.get("/accounts/profile/").status_code == 200


def test_wrong_password_and_unknown_user_get_the_same_answer(client, alice):
    wrong_password = client.post(LOGIN, {"username": "alice", "password": "nope"})
    unknown_user = client.post(LOGIN, {"username": "nobody", "password": "nope"})
    assert wrong_password.status_code == unknown_user.status_code == 200
    assert wrong_password.context["form"].errors == unknown_user.context["form"].errors


def test_deactivated_user_gets_the_same_answer_as_a_wrong_password(client, alice):
    alice.is_active = False
    alice.save()
    response = client.post(LOGIN, {"username": "alice", "password": "alice-password-1"})
    wrong = client.post(LOGIN, {"username": "bob", "password": "nope"})
    assert response.context["form"].errors == wrong.context["form"].errors


def test_next_to_another_site_is_ignored(client, alice):
    response = client.post(
        LOGIN + "?next=https://evil.example/",
        {"username": "alice", "password": "alice-password-1", "next": "https://evil.example/"},
    )
    assert response.status_code == 302
    assert response["Location"] == "/"


def test_next_on_this_site_is_followed(client, alice):
    response = client.post(
        LOGIN,
        {"username": "alice", "password": "alice-password-1", "next": "/accounts/tokens/"},
    )
    assert response["Location"] == "/accounts/tokens/"


def test_login_form_requires_csrf(alice):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    response = client.post(LOGIN, {"username": "alice", "password": "alice-password-1"})
    assert response.status_code == 403


def test_logout_by_get_is_refused(client, alice):
    client.force_login(alice)
    assert client.get("/accounts/logout/").status_code == 405
    assert client.get("/accounts/profile/").status_code == 200


def test_logout_by_post_logs_out(client, alice):
    client.force_login(alice)
    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    assert client.get("/accounts/profile/").status_code == 302


def test_account_pages_need_a_login(client):
    for path in ("/accounts/profile/", "/accounts/tokens/", "/accounts/invite/"):
        response = client.get(path)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/?next=")


def test_password_change_page_changes_the_password(client, alice):
    client.force_login(alice)
    response = client.post(
        "/accounts/password_change/",
        {
            "old_password": "alice-password-1",
            "new_password1": "a fresh passphrase 42",
            "new_password2": "a fresh passphrase 42",
        },
    )
    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.check_password("a fresh passphrase 42")
