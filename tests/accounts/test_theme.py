"""The colour theme of the web pages: saved per user, a cookie for visitors (issue 16)."""

import pytest
from django.test import Client

from accounts.models import User

pytestmark = pytest.mark.django_db


def test_a_user_saves_their_theme_and_only_that(alice, alice_api):
    quota = alice.quota_bytes

    response = alice_api.patch(
        "/api/v1/me/", {"theme": "dark", "quota": 1, "is_staff": True}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["theme"] == "dark"
    alice.refresh_from_db()
    assert (alice.theme, alice.quota_bytes, alice.is_staff) == ("dark", quota, False)


def test_an_unknown_theme_is_refused_with_a_sentence(alice, alice_api):
    response = alice_api.patch("/api/v1/me/", {"theme": "neon"}, format="json")

    assert response.status_code == 400
    assert response.json()["errors"]["theme"]
    assert User.objects.get(pk=alice.pk).theme == "system"


def test_pages_are_drawn_in_the_saved_theme(alice, client):
    User.objects.filter(pk=alice.pk).update(theme="dark")
    client.force_login(alice)
    client.cookies["locker_theme"] = "light"  # the user's choice wins over this browser's

    page = client.get("/").content.decode()

    assert '<html lang="en" data-theme="dark">' in page


def test_a_visitors_cookie_chooses_the_theme_and_junk_falls_back_to_the_system(db):
    visitor = Client()
    visitor.cookies["locker_theme"] = "light"
    assert 'data-theme="light"' in visitor.get("/accounts/login/").content.decode()
    visitor.cookies["locker_theme"] = '"><script>'
    assert 'data-theme="system"' in visitor.get("/accounts/login/").content.decode()
