"""Which language a page, an API answer and an e-mail is in: the user's profile setting, then the
language switch's cookie, then Accept-Language, then LOCKER_LANGUAGE (locker/i18n.py)."""

import re

import pytest
from django.core import mail
from django.template.loader import render_to_string
from django.test import Client
from django.utils import translation

from tests.fixtures.users import api_client_for, make_user

pytestmark = pytest.mark.django_db

COOKIE = "locker_language"
SAME_SITE = {"origin": "http://testserver"}


def page_language(response) -> str:
    assert response.status_code == 200
    return re.search(r'<html lang="([^"]+)"', response.content.decode()).group(1)


def test_locker_language_is_the_default_for_a_visitor_who_asks_for_nothing(client, settings):
    assert page_language(client.get("/accounts/login/")) == "en"
    settings.LANGUAGE_CODE = "fr"
    response = client.get("/accounts/login/")
    assert page_language(response) == "fr"
    assert response["Content-Language"] == "fr"


def test_accept_language_wins_over_locker_language(client):
    response = client.get("/accounts/login/", headers={"accept-language": "fr-FR,fr;q=0.9"})
    assert page_language(response) == "fr"
    with translation.override("fr"):
        assert translation.gettext("Log in") in response.content.decode()
        assert translation.gettext("Log in") != "Log in"


def test_the_switchs_cookie_wins_over_accept_language(client):
    client.cookies[COOKIE] = "en"
    response = client.get("/accounts/login/", headers={"accept-language": "fr"})
    assert page_language(response) == "en"


def test_the_profile_setting_wins_over_the_cookie_and_accept_language(client):
    user = make_user("francoise", language="fr")
    client.force_login(user)
    client.cookies[COOKIE] = "en"
    response = client.get("/accounts/profile/", headers={"accept-language": "en"})
    assert page_language(response) == "fr"
    # No setting ("as your browser"): the cookie chooses again.
    user.language = ""
    user.save()
    assert page_language(client.get("/accounts/profile/")) == "en"


def test_the_switch_remembers_a_visitors_choice_in_a_cookie_and_goes_back(db):
    client = Client(enforce_csrf_checks=True)
    response = client.post(
        "/language", {"language": "fr", "next": "/accounts/login/"}, headers=SAME_SITE
    )
    assert (response.status_code, response["Location"]) == (302, "/accounts/login/")
    assert response.cookies[COOKIE].value == "fr"
    assert response.cookies[COOKIE]["httponly"]
    assert page_language(client.get("/accounts/login/")) == "fr"


def test_the_switch_refuses_a_form_sent_from_another_site(db):
    client = Client(enforce_csrf_checks=True)
    for headers in [
        {},
        {"origin": "https://evil.example"},
        {"origin": "null"},
        {"referer": "https://evil.example/page"},
    ]:
        response = client.post("/language", {"language": "fr", "next": "/"}, headers=headers)
        assert response.status_code == 403, headers
        assert COOKIE not in response.cookies
    referer = {"referer": "http://testserver/s/abc"}
    assert client.post("/language", {"language": "fr"}, headers=referer).status_code == 302
    # What a browser sends from a share page (Referrer-Policy: no-referrer): the switch works.
    no_referrer = {"origin": "null", "sec-fetch-site": "same-origin"}
    assert client.post("/language", {"language": "fr"}, headers=no_referrer).status_code == 302
    for site in ["cross-site", "same-site"]:
        forged = {"origin": "http://testserver", "sec-fetch-site": site}
        assert client.post("/language", {"language": "fr"}, headers=forged).status_code == 403


def test_no_page_carries_a_csrf_token_for_the_switch(client):
    """A token would make every rendering of a page different (pages that must answer alike)."""
    page = client.get("/accounts/password_reset/done/")
    assert 'id="language-switch"' in page.content.decode()
    assert client.get("/accounts/password_reset/done/").content == page.content


def test_the_switch_never_sends_the_visitor_to_another_site(client):
    for target in ["https://evil.example/", "//evil.example/x", "/\\evil.example"]:
        response = client.post("/language", {"language": "fr", "next": target}, headers=SAME_SITE)
        assert response.status_code == 302
        assert response["Location"] == "/", target


def test_the_switch_saves_a_logged_in_users_choice_in_the_profile(client):
    user = make_user("francoise")
    client.force_login(user)
    client.post("/language", {"language": "fr", "next": "/"}, headers=SAME_SITE)
    user.refresh_from_db()
    assert user.language == "fr"
    # An unknown language changes nothing.
    client.post("/language", {"language": "xx", "next": "/"}, headers=SAME_SITE)
    user.refresh_from_db()
    assert user.language == "fr"


def test_the_profile_page_saves_the_language(client):
    user = make_user("francoise")
    client.force_login(user)
    page = client.get("/accounts/profile/").content.decode()
    assert 'name="language"' in page and ">Français<" in page
    response = client.post(
        "/accounts/profile/",
        {"display_name": "", "email": user.email, "language": "fr"},
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.language == "fr"
    assert page_language(client.get("/accounts/profile/")) == "fr"


def test_the_api_reads_and_changes_the_language(db):
    user = make_user("francoise")
    api = api_client_for(user)
    assert api.get("/api/v1/me/").json()["language"] == ""
    response = api.patch("/api/v1/me/", {"language": "fr"}, format="json")
    assert (response.status_code, response.json()["language"]) == (200, "fr")
    user.refresh_from_db()
    assert user.language == "fr"
    refused = api.patch("/api/v1/me/", {"language": "xx"}, format="json")
    assert refused.status_code == 400 and list(refused.json()["errors"]) == ["language"]
    assert api.patch("/api/v1/me/", {"language": ""}, format="json").json()["language"] == ""


def test_api_errors_are_in_french_with_accept_language_fr_and_keep_english_field_names(db):
    api = api_client_for(make_user("francoise"))
    english = api.post("/api/v1/folders/", {"name": ""}, format="json")
    french = api.post(
        "/api/v1/folders/", {"name": ""}, format="json", headers={"accept-language": "fr"}
    )
    assert english.status_code == french.status_code == 400
    assert english.json()["errors"] == {"name": ["A name cannot be empty."]}
    with translation.override("fr"):
        expected = translation.gettext("A name cannot be empty.")
    assert expected != "A name cannot be empty."
    # The sentence is French; the field name stays English.
    assert french.json()["errors"] == {"name": [expected]}
    assert french.json()["detail"] != english.json()["detail"]
    assert french["Content-Language"] == "fr"


def test_an_email_goes_out_in_its_recipients_language_not_the_senders(
    db, django_capture_on_commit_callbacks, eager_celery
):
    from sharing.services import share_create
    from tests.sharing.conftest import store_file

    alice = make_user("alice", display_name="Alice")
    make_user("bob", language="fr")
    report = store_file(alice, "report.txt", b"numbers\n")
    share, _token = share_create(owner=alice, file=report)
    api = api_client_for(alice)
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            f"/api/v1/shares/{share.public_id}/email/",
            {"recipients": ["bob@example.com", "carol@example.org"]},
            format="json",
            headers={"accept-language": "fr"},  # the sender's language is not the recipients'
        )
    assert response.status_code == 202
    subjects = {m.to[0]: m.subject for m in mail.outbox}
    context = {"sender": "Alice", "name": "report.txt"}
    for language, address in [("fr", "bob@example.com"), ("en", "carol@example.org")]:
        with translation.override(language):
            expected = " ".join(render_to_string("sharing/email/link_subject.txt", context).split())
        assert subjects[address] == expected
    assert subjects["bob@example.com"] != subjects["carol@example.org"]
    html = {m.to[0]: m.alternatives[0][0] for m in mail.outbox}
    assert '<html lang="fr">' in html["bob@example.com"]
    assert '<html lang="en">' in html["carol@example.org"]


def test_sizes_and_times_read_in_the_pages_language():
    from datetime import UTC, datetime, timedelta

    from locker.formats import exact_time_text, relative_time_text, size_text

    now = datetime(2026, 11, 30, 6, 21, tzinfo=UTC)
    with translation.override("en"):
        assert size_text(1536 * 1024) == "1.5 MiB"
        assert relative_time_text(now - timedelta(minutes=5), now) == "5 minutes ago"
        assert exact_time_text(now) == "Nov 30, 2026, 6:21 AM"
    with translation.override("fr"):
        assert size_text(1536 * 1024) == "1,5 MiB"
        assert size_text(1234 * 1024**3 // 10) == "123 GiB"
        assert relative_time_text(now - timedelta(minutes=5), now) == "il y a 5 minutes"
        assert relative_time_text(now + timedelta(days=3), now) == "dans 3 jours"
        assert exact_time_text(now) == "30 nov. 2026, 06:21"


def test_an_email_to_someone_without_a_setting_is_in_locker_language(db, settings):
    """An administrator browsing in English invites someone: the instance is French, so is the
    invitation (the new account has no language of its own yet)."""
    from accounts.services import user_invite

    settings.LANGUAGE_CODE = "fr"
    staff = make_user("root", is_staff=True, language="en")
    with translation.override("en"):
        user_invite(username="zoe", email="zoe@example.org", invited_by=staff)
    (email,) = mail.outbox
    with translation.override("fr"):
        expected = translation.gettext("You are invited to Locker")
    assert expected != "You are invited to Locker"
    assert email.subject == expected


def test_a_password_reset_email_is_in_the_account_holders_language(db):
    from accounts.services import password_reset_send

    make_user("francoise", language="fr")
    with translation.override("en"):
        assert password_reset_send(email="francoise@example.com") == 1
    (email,) = mail.outbox
    with translation.override("fr"):
        expected = translation.gettext("Reset your Locker password")
    assert expected != "Reset your Locker password"
    assert email.subject == expected
