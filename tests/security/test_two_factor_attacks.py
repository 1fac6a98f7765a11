"""Issue 11: the two-factor guard and code guessing, as an attacker who knows the password.

- Any `Authorization` header used to make the guard step aside, so a session that still owed
  its second factor (or had to enrol first) reached the whole API by adding
  `Authorization: Basic eDp5`, and could make a permanent token.
- django-otp throttled per device, so wrong codes from the attacker kept the owner's phone
  refused; guessing is now limited per log-in attempt, per network and per account, and a
  browser that passed the account's second factor before has its own allowance.
"""

import pytest
from django.test import Client

from accounts import twofactor
from accounts.models import ApiToken
from tests.accounts.twofactor_helpers import (
    attacker_guesses,
    confirmed_device,
    password_step,
    totp_code,
)
from tests.accounts.twofactor_helpers import enrol_through_pages as enrol
from tests.fixtures.users import api_client_for

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"
CODE = "/accounts/login/code/"
BASIC = {"HTTP_AUTHORIZATION": "Basic eDp5"}  # "x:y": credentials nobody checks


# --- The guard --------------------------------------------------------------------------------


def test_a_basic_header_does_not_let_an_unverified_session_reach_the_api(client, alice):
    """alice typed her password here, then turned two-factor on from another browser: this
    session never passed the second factor and must not be used any more, header or not. It
    used to create a permanent token through the API with `Authorization: Basic eDp5`."""
    password_step(client, alice)  # no second factor yet: logged in, password fresh
    enrol(Client(), alice)
    created = client.post(
        "/api/v1/tokens/", {"name": "backdoor"}, content_type="application/json", **BASIC
    )
    assert created.status_code == 401
    assert created.json()["detail"] == "Log in again with your second factor."
    assert not ApiToken.objects.filter(name="backdoor").exists()
    assert "_auth_user_id" not in client.session  # the session was ended
    # The same for any other route, API or web page.
    client.force_login(alice)
    assert client.get("/api/v1/me/", **BASIC).status_code == 401
    client.force_login(alice)
    page = client.get("/trash/", **BASIC)
    assert page.status_code == 302 and page["Location"].startswith(LOGIN)


def test_a_basic_header_does_not_skip_enrolment_when_two_factor_is_required(client, bob, settings):
    """LOCKER_REQUIRE_2FA=all: bob logs in with his password and must enrol before anything
    else; the header used to give him the API and a permanent token instead."""
    settings.LOCKER_REQUIRE_2FA = "all"
    password_step(client, bob)
    assert client.get("/api/v1/me/", **BASIC).status_code == 403
    created = client.post(
        "/api/v1/tokens/", {"name": "skip-2fa"}, content_type="application/json", **BASIC
    )
    assert created.status_code == 403
    assert "two-factor" in created.json()["detail"]
    assert not ApiToken.objects.filter(user=bob).exists()
    assert client.get("/", **BASIC)["Location"] == "/accounts/2fa/setup/"


def test_only_a_valid_bearer_token_makes_the_guard_step_aside(client, alice):
    enrol(client, alice)
    client.post("/accounts/logout/")  # as the menu does (keeps the browser's cookies)
    client.force_login(alice)  # a session without the second factor
    token_client = api_client_for(alice)
    bearer = token_client._credentials["HTTP_AUTHORIZATION"]
    # The token decides, not the session: a valid one works...
    assert client.get("/api/v1/me/", HTTP_AUTHORIZATION=bearer).status_code == 200
    # ...a wrong one is refused, and the session is not consulted instead.
    wrong = client.get("/api/v1/me/", HTTP_AUTHORIZATION="Bearer lk_not-a-token")
    assert wrong.status_code == 401


def test_the_api_refuses_such_sessions_even_without_the_middleware(client, alice, bob, settings):
    """The API's session authentication applies the same rule itself (defence in depth)."""
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if not m.endswith("TwoFactorMiddleware")]
    enrol(client, alice)
    client.post("/accounts/logout/")  # as the menu does (keeps the browser's cookies)
    client.force_login(alice)
    assert client.get("/api/v1/me/", **BASIC).status_code == 401
    settings.LOCKER_REQUIRE_2FA = "all"
    client.force_login(bob)
    assert client.get("/api/v1/me/").status_code == 403


# --- Guessing codes with the password ---------------------------------------------------------


def test_wrong_codes_from_someone_with_the_password_do_not_keep_the_owner_out(client, alice):
    """Issue 11: the attacker's wrong codes used to throttle alice's device for everyone."""
    enrol(client, alice)  # alice's own browser
    client.post("/accounts/logout/")  # as the menu does (keeps the browser's cookies)
    statuses = attacker_guesses(alice, "198.51.100.7", sessions=3)
    assert 429 in statuses  # the attacker's network is held back...
    owner = Client(REMOTE_ADDR="203.0.113.20")  # ...alice, in a new browser elsewhere, is not
    password_step(owner, alice)
    response = owner.post(CODE, {"code": totp_code(confirmed_device(alice), steps_ahead=1)})
    assert response.status_code == 302 and response["Location"] == "/"
    assert owner.get("/api/v1/me/").json()["username"] == "alice"


def test_guessing_is_bounded_per_account_yet_the_owners_own_browser_still_logs_in(client, alice):
    """However many sessions and addresses the attacker uses, the account takes a bounded
    number of codes from browsers it does not know; alice's own browser keeps its allowance."""
    enrol(client, alice)
    client.post("/accounts/logout/")  # as the menu does (keeps the browser's cookies)
    tried = 0
    for n in range(1, 10):
        statuses = attacker_guesses(alice, f"198.51.100.{n}", sessions=3)
        tried += statuses.count(200) + statuses.count(302)
        if statuses[0] == 429:
            break
    assert tried == twofactor.CODE_THROTTLE_ACCOUNT.limit
    right = totp_code(confirmed_device(alice), steps_ahead=1)
    # Now even the right code is not checked from a browser the account does not know.
    stranger = Client(REMOTE_ADDR="192.0.2.99")
    password_step(stranger, alice)
    refused = stranger.post(CODE, {"code": right})
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert "Too many codes were tried" in refused.content.decode()
    # alice's own browser (the one she enrolled with) is not held back by any of it.
    password_step(client, alice)
    response = client.post(CODE, {"code": right})
    assert response.status_code == 302 and response["Location"] == "/"


def test_a_known_browser_cookie_works_only_for_its_account_and_device(client, alice, bob):
    enrol(client, alice)
    cookie = client.cookies[twofactor.KNOWN_BROWSER_COOKIE]
    assert cookie["httponly"] and cookie["path"] == LOGIN
    request = type("R", (), {"COOKIES": {twofactor.KNOWN_BROWSER_COOKIE: cookie.value}})()
    assert twofactor.known_browser(request, user=alice) is not None
    assert twofactor.known_browser(request, user=bob) is None
    forged = type("R", (), {"COOKIES": {twofactor.KNOWN_BROWSER_COOKIE: cookie.value + "x"}})()
    assert twofactor.known_browser(forged, user=alice) is None
    # A new enrolment (after a reset: lost phone) forgets every browser.
    twofactor.two_factor_reset(user=alice, by=alice)
    enrol(Client(), alice)
    assert twofactor.known_browser(request, user=alice) is None
