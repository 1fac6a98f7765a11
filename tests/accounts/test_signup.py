import re

import pytest
from django.core import mail

from accounts.models import User

pytestmark = pytest.mark.django_db

SIGNUP = "/accounts/signup/"


def signup_link() -> str:
    return re.search(r"http://\S+(/accounts/signup/\S+/)", mail.outbox[-1].body).group(1)


def test_signup_is_404_when_closed(client):
    assert client.get(SIGNUP).status_code == 404
    assert client.post(SIGNUP, {"username": "x", "email": "x@example.com"}).status_code == 404


def test_signup_answers_alike_for_new_and_existing_names_and_addresses(client, alice, signup_open):
    answers = [
        client.post(SIGNUP, data, follow=True)
        for data in (
            {"username": "newbie", "email": "newbie@example.com"},
            {"username": "alice", "email": "other@example.com"},
            {"username": "someone", "email": "ALICE@example.com"},
        )
    ]
    assert len({a.content for a in answers}) == 1
    assert len({tuple(a.redirect_chain) for a in answers}) == 1
    assert len(mail.outbox) == 3
    new, name_taken, address_taken = mail.outbox
    assert "/accounts/signup/" in new.body
    assert "username is taken" in name_taken.body
    assert "already belongs to the account alice" in address_taken.body
    assert "/accounts/password_reset/" in address_taken.body


def test_signup_link_creates_the_account_once(client, signup_open):
    client.post(SIGNUP, {"username": "newbie", "email": "newbie@example.com"})
    link = signup_link()
    page = client.get(link)
    assert page.status_code == 200
    assert page["Referrer-Policy"] == "no-referrer"
    response = client.post(
        link, {"new_password1": "my own secret 42", "new_password2": "my own secret 42"}
    )
    assert response.status_code == 302
    user = User.objects.get(username="newbie")
    assert user.email == "newbie@example.com"
    assert user.check_password("my own secret 42")
    client.post("/accounts/logout/")
    again = client.get(link)
    assert again.status_code == 410
    assert "expired or was already used" in again.content.decode()


def test_weak_password_is_refused_next_to_the_field(client, signup_open):
    client.post(SIGNUP, {"username": "newbie", "email": "newbie@example.com"})
    response = client.post(signup_link(), {"new_password1": "123", "new_password2": "123"})
    assert response.status_code == 200
    assert response.context["form"].errors["new_password2"]
    assert not User.objects.filter(username="newbie").exists()


def test_tampered_signup_link_is_refused(client, signup_open):
    client.post(SIGNUP, {"username": "newbie", "email": "newbie@example.com"})
    link = signup_link()
    tampered = link[:-3] + ("A" if link[-3] != "A" else "B") + link[-2:]
    assert client.get(tampered).status_code == 410


def test_expired_signup_link_is_refused(client, signup_open, settings):
    client.post(SIGNUP, {"username": "newbie", "email": "newbie@example.com"})
    settings.LOCKER_INVITATION_DAYS = 0
    assert client.get(signup_link()).status_code == 410


def test_signup_link_dies_when_the_name_is_taken_meanwhile(client, signup_open):
    client.post(SIGNUP, {"username": "newbie", "email": "newbie@example.com"})
    User.objects.create_user(username="NEWBIE", email="elsewhere@example.com")
    assert client.get(signup_link()).status_code == 410
