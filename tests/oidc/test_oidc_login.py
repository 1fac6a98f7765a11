"""Single sign-on against a real OpenID provider (oidc-provider, run by Node): accounts, groups,
staff, sessions that end, logout at the provider, password log-in switched off, fresh log-in
before creating an API token."""

import html
import re
import time
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client

from accounts import twofactor
from accounts.models import AuditEvent, OidcIdentity, User
from accounts.services import api_token_create
from tests.fixtures.users import make_user
from tests.oidc.conftest import sso_log_in

pytestmark = pytest.mark.django_db


def test_first_log_in_creates_the_user(client, oidc_provider):
    oidc_provider.account("ann", groups=["locker"], name="Ann Example")

    response = sso_log_in(client, oidc_provider, "ann")

    assert response.status_code == 302 and response["Location"] == "/"
    user = User.objects.get(username="ann")
    assert user.email == "ann@example.org"
    assert user.display_name == "Ann Example"
    assert not user.is_staff
    assert not user.has_usable_password()
    identity = OidcIdentity.objects.get(user=user)
    assert (identity.issuer, identity.subject) == (oidc_provider.issuer, "ann")
    assert client.get("/accounts/profile/").status_code == 200
    event = AuditEvent.objects.filter(action="login.success", actor=user).get()
    assert event.extra == {"source": "oidc"}


def test_second_log_in_finds_the_same_account(client, oidc_provider):
    oidc_provider.account("ann", groups=["locker"])
    sso_log_in(client, oidc_provider, "ann")
    client.logout()
    oidc_provider.browser.cookies.clear()

    sso_log_in(client, oidc_provider, "ann")

    assert User.objects.filter(email="ann@example.org").count() == 1
    assert client.get("/accounts/profile/").status_code == 200


def test_staff_group_makes_staff_and_is_read_again_at_each_log_in(client, oidc_provider):
    oidc_provider.account("ann", groups=["locker", "locker-admins"])
    sso_log_in(client, oidc_provider, "ann")
    assert User.objects.get(username="ann").is_staff

    client.logout()
    oidc_provider.browser.cookies.clear()
    oidc_provider.account("ann", groups=["locker"])
    sso_log_in(client, oidc_provider, "ann")

    assert not User.objects.get(username="ann").is_staff


def test_user_outside_the_allowed_groups_is_refused_with_a_clear_page(client, oidc_provider):
    oidc_provider.account("ann", groups=["locker"])
    sso_log_in(client, oidc_provider, "ann")
    client.logout()
    oidc_provider.browser.cookies.clear()
    oidc_provider.account("ann", groups=["marketing"])

    response = sso_log_in(client, oidc_provider, "ann")

    assert response.status_code == 403
    assert b"not in a group allowed to use Locker" in response.content
    assert client.get("/accounts/profile/").status_code == 302  # not logged in
    failure = AuditEvent.objects.filter(action="login.failure").get()
    assert failure.extra["source"] == "oidc" and failure.extra["reason"] == "group"


def test_removal_from_the_allowed_group_ends_the_session_at_the_next_request(
    client, oidc_provider, settings
):
    settings.LOCKER_OIDC_RECHECK_SECONDS = 0
    oidc_provider.account("ann", groups=["locker"])
    sso_log_in(client, oidc_provider, "ann")
    assert client.get("/accounts/profile/").status_code == 200

    oidc_provider.account("ann", groups=[])
    response = client.get("/accounts/profile/")

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?sso_ended=1"
    assert b"single sign-on session has ended" in client.get(response["Location"]).content
    assert client.get("/accounts/profile/").status_code == 302
    ended = AuditEvent.objects.filter(action="sso.session_ended").get()
    assert ended.extra == {"reason": "group"}


def test_session_is_not_re_checked_before_the_interval(client, oidc_provider, settings):
    settings.LOCKER_OIDC_RECHECK_SECONDS = 3600
    oidc_provider.account("ann", groups=["locker"])
    sso_log_in(client, oidc_provider, "ann")

    oidc_provider.account("ann", groups=[])

    assert client.get("/accounts/profile/").status_code == 200


def test_staff_group_removed_while_logged_in_drops_staff_at_the_re_check(
    client, oidc_provider, settings
):
    settings.LOCKER_OIDC_RECHECK_SECONDS = 0
    oidc_provider.account("ann", groups=["locker", "locker-admins"])
    sso_log_in(client, oidc_provider, "ann")
    assert User.objects.get(username="ann").is_staff

    oidc_provider.account("ann", groups=["locker"])
    client.get("/accounts/profile/")

    assert not User.objects.get(username="ann").is_staff


def test_logout_also_ends_the_session_at_the_provider(client, oidc_provider):
    oidc_provider.account("ann", groups=["locker"])
    sso_log_in(client, oidc_provider, "ann")

    response = client.post("/accounts/logout/")

    assert response.status_code == 200
    link = re.search(r'id="oidc-end-session" href="([^"]+)"', response.content.decode())
    end_session_url = html.unescape(link.group(1))
    assert f'content="0;url={link.group(1)}"' in response.content.decode()
    end_session = urlsplit(end_session_url)
    assert f"{end_session.scheme}://{end_session.netloc}" == oidc_provider.issuer
    assert end_session.path == "/session/end"
    params = parse_qs(end_session.query)
    assert params["post_logout_redirect_uri"] == ["http://testserver/accounts/login/"]
    assert params["id_token_hint"][0].count(".") == 2
    assert client.get("/accounts/profile/").status_code == 302  # logged out of Locker
    back = oidc_provider.sign_in(end_session_url, login="ann")
    assert back == "http://testserver/accounts/login/"
    # The provider's session is over: the next log-in asks for the password again.
    start = client.get("/accounts/oidc/login/")
    assert oidc_provider.shows_login_form(start["Location"])


def test_a_local_account_with_the_same_e_mail_is_not_taken_over(client, oidc_provider):
    alice = make_user("alice", email="ann@example.org")
    oidc_provider.account("ann", groups=["locker"])

    response = sso_log_in(client, oidc_provider, "ann")

    assert response.status_code == 403
    assert b"already uses this e-mail address" in response.content
    assert not OidcIdentity.objects.filter(user=alice).exists()


def test_verified_e_mail_links_the_local_account_when_the_admin_allows_it(
    client, oidc_provider, settings
):
    settings.LOCKER_OIDC_LINK_BY_EMAIL = True
    alice = make_user("alice", email="ann@example.org")
    oidc_provider.account("ann", groups=["locker"])

    response = sso_log_in(client, oidc_provider, "ann")

    assert response.status_code == 302
    assert OidcIdentity.objects.get(subject="ann").user == alice


def test_unverified_e_mail_never_links(client, oidc_provider, settings):
    settings.LOCKER_OIDC_LINK_BY_EMAIL = True
    make_user("alice", email="ann@example.org")
    oidc_provider.account("ann", groups=["locker"], email_verified=False)

    response = sso_log_in(client, oidc_provider, "ann")

    assert response.status_code == 403
    assert not OidcIdentity.objects.exists()


def test_e_mail_domain_outside_the_allowed_ones_is_refused(client, oidc_provider, settings):
    settings.LOCKER_OIDC_ALLOWED_DOMAINS = ["example.com"]
    oidc_provider.account("ann", groups=["locker"])

    response = sso_log_in(client, oidc_provider, "ann")

    assert response.status_code == 403
    assert not User.objects.filter(username="ann").exists()


def test_no_account_is_created_when_creation_is_off(client, oidc_provider, settings):
    settings.LOCKER_OIDC_CREATE_USERS = False
    oidc_provider.account("ann", groups=["locker"])

    response = sso_log_in(client, oidc_provider, "ann")

    assert response.status_code == 403
    assert not User.objects.filter(username="ann").exists()


def test_sso_user_with_a_totp_device_is_not_asked_a_second_code(client, oidc_provider):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    oidc_provider.account("ann", groups=["locker"])
    sso_log_in(client, oidc_provider, "ann")
    TOTPDevice.objects.create(user=User.objects.get(username="ann"), name="x", confirmed=True)

    assert client.get("/accounts/profile/").status_code == 200


def test_api_tokens_keep_working_for_sso_users(client, oidc_provider):
    oidc_provider.account("ann", groups=["locker"])
    sso_log_in(client, oidc_provider, "ann")
    _token, secret = api_token_create(user=User.objects.get(username="ann"), name="script")

    response = Client().get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {secret}")

    assert response.status_code == 200
    assert response.json()["username"] == "ann"


def test_creating_a_token_asks_for_a_fresh_log_in_at_the_provider(client, oidc_provider):
    oidc_provider.account("ann", groups=["locker"])
    sso_log_in(client, oidc_provider, "ann")
    session = client.session
    session[twofactor.PASSWORD_AT_KEY] = time.time() - 3600  # the log-in is an hour old
    session.save()

    response = client.post("/accounts/tokens/", {"name": "script", "scopes": "*"})

    assert response.status_code == 302
    start = response["Location"]
    assert start.startswith("/accounts/oidc/login/?") and "reauth=1" in start
    to_provider = client.get(start)
    params = parse_qs(urlsplit(to_provider["Location"]).query)
    assert params["prompt"] == ["login"] and params["max_age"] == ["0"]
    # The provider's session still exists, yet it asks for the password again.
    assert oidc_provider.shows_login_form(to_provider["Location"])
    callback = oidc_provider.sign_in(to_provider["Location"], login="ann")
    back = client.get(callback.removeprefix("http://testserver"))
    assert back["Location"] == "/accounts/tokens/"
    created = client.post("/accounts/tokens/", {"name": "script", "scopes": "*"})
    assert created.status_code == 302 and created["Location"] == "/accounts/tokens/"
    assert User.objects.get(username="ann").api_tokens.count() == 1


def test_fresh_log_in_as_someone_else_does_not_confirm(client, oidc_provider):
    oidc_provider.account("ann", groups=["locker"])
    oidc_provider.account("bea", groups=["locker"])
    sso_log_in(client, oidc_provider, "ann")

    response = client.get("/accounts/oidc/login/?reauth=1&next=/accounts/tokens/")
    callback = oidc_provider.sign_in(response["Location"], login="bea")
    answer = client.get(callback.removeprefix("http://testserver"))

    assert answer.status_code == 403


# --- The log-in page and password log-in ------------------------------------------------------


def test_log_in_page_shows_the_sso_button(client, oidc_provider):
    page = client.get("/accounts/login/").content.decode()
    assert "Log in with Example SSO" in page
    assert 'id="login-form"' in page


def test_password_log_in_none_shows_only_the_button_and_refuses_passwords(
    client, oidc_provider, settings, staff
):
    settings.LOCKER_PASSWORD_LOGIN = "none"
    settings.LOCKER_LDAP_URL = ""
    page = client.get("/accounts/login/").content.decode()
    assert "Log in with Example SSO" in page and 'id="login-form"' not in page

    response = client.post("/accounts/login/", {"username": "root", "password": "root-password-1"})

    assert response.status_code == 200
    assert client.get("/accounts/profile/").status_code == 302
    assert client.get("/accounts/password_reset/").status_code == 404


def test_password_log_in_staff_lets_only_staff_in_answering_others_as_a_wrong_password(
    client, oidc_provider, settings, staff, alice
):
    settings.LOCKER_PASSWORD_LOGIN = "staff"
    settings.LOCKER_LDAP_URL = ""
    wrong = client.post("/accounts/login/", {"username": "alice", "password": "not-it"})
    refused = client.post("/accounts/login/", {"username": "alice", "password": "alice-password-1"})
    assert refused.status_code == 200
    assert refused.context["form"].non_field_errors() == wrong.context["form"].non_field_errors()
    assert client.get("/accounts/profile/").status_code == 302

    admitted = client.post("/accounts/login/", {"username": "root", "password": "root-password-1"})

    assert admitted.status_code == 302
    assert client.get("/accounts/profile/").status_code == 200


def test_provider_down_answers_503_naming_it(client, settings, db):
    from tests.fixtures.launcher import free_port

    settings.LOCKER_OIDC_ISSUER = f"http://127.0.0.1:{free_port()}"
    settings.LOCKER_OIDC_CLIENT_ID = "locker"
    settings.LOCKER_OIDC_BUTTON = "Example SSO"

    response = client.get("/accounts/oidc/login/")

    assert response.status_code == 503
    assert b"identity provider (Example SSO)" in response.content


def test_sso_pages_are_404_when_sso_is_off(client, settings, db):
    settings.LOCKER_OIDC_ISSUER = ""
    assert client.get("/accounts/oidc/login/").status_code == 404
    assert client.get("/accounts/oidc/callback/?code=x&state=y").status_code == 404


def test_system_checks_refuse_half_or_unsafe_sso_settings(settings):
    from accounts.oidc import oidc_settings_check

    settings.LOCKER_OIDC_ISSUER = ""
    settings.LOCKER_LDAP_URL = ""
    settings.LOCKER_PASSWORD_LOGIN = "none"
    assert [e.id for e in oidc_settings_check()] == ["accounts.E011"]
    settings.LOCKER_LDAP_URL = "ldaps://ldap.example.org"  # directory users can still log in
    assert oidc_settings_check() == []
    settings.LOCKER_LDAP_URL = ""

    settings.LOCKER_PASSWORD_LOGIN = "all"
    settings.LOCKER_OIDC_ISSUER = "http://sso.example.org/realms/x"
    settings.LOCKER_OIDC_CLIENT_ID = ""
    assert [e.id for e in oidc_settings_check()] == ["accounts.E010", "accounts.E012"]

    settings.LOCKER_OIDC_ISSUER = "https://sso.example.org/realms/x"
    settings.LOCKER_OIDC_CLIENT_ID = "locker"
    assert oidc_settings_check() == []


def test_expired_access_token_is_renewed_with_the_refresh_token(client, oidc_provider, settings):
    settings.LOCKER_OIDC_RECHECK_SECONDS = 0
    oidc_provider.account("ann", groups=["locker"])
    sso_log_in(client, oidc_provider, "ann")
    session = client.session
    first = session["locker_oidc"]
    assert first["refresh_token"]
    # One the provider no longer knows, as it answers for an expired one (revoking the access
    # token would revoke the whole grant at oidc-provider, refresh token included).
    session["locker_oidc"] = {**first, "access_token": "an-expired-access-token"}
    session.save()

    assert client.get("/accounts/profile/").status_code == 200

    renewed = client.session["locker_oidc"]
    assert renewed["access_token"] != first["access_token"]
    assert client.get("/accounts/profile/").status_code == 200


def test_session_ends_when_the_provider_refuses_every_token(client, oidc_provider, settings):
    settings.LOCKER_OIDC_RECHECK_SECONDS = 0
    oidc_provider.account("ann", groups=["locker"])
    sso_log_in(client, oidc_provider, "ann")
    tokens = client.session["locker_oidc"]
    oidc_provider.revoke(tokens["refresh_token"])
    oidc_provider.revoke(tokens["access_token"])

    response = client.get("/accounts/profile/")

    assert response["Location"] == "/accounts/login/?sso_ended=1"
    ended = AuditEvent.objects.filter(action="sso.session_ended").get()
    assert ended.extra == {"reason": "tokens_refused"}


def test_provider_down_leaves_sso_sessions_as_they_are(client, oidc_provider, settings):
    settings.LOCKER_OIDC_RECHECK_SECONDS = 0
    oidc_provider.account("ann", groups=["locker"])
    sso_log_in(client, oidc_provider, "ann")

    oidc_provider.stop()
    oidc_provider.stop = lambda: None

    assert client.get("/accounts/profile/").status_code == 200
