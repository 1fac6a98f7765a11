"""Answers that must not log anyone in, sent the way an attacker (or a broken provider) would:
a forged or replayed `state`, an ID token with a bad signature, another issuer, another
audience, an expired one, another nonce; and the provider's metadata naming another issuer."""

from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.test import Client

from accounts.models import AuditEvent, User
from tests.oidc.conftest import TESTSERVER, fake_log_in

pytestmark = pytest.mark.django_db


def _refused(response, reason: str, *, frank_exists: bool = False) -> None:
    assert response.status_code == 403, response.content[:300]
    assert b'id="oidc-refused"' in response.content
    assert f'data-reason="{reason}"'.encode() in response.content
    assert User.objects.filter(username="frank").exists() == frank_exists
    failure = AuditEvent.objects.filter(action="login.failure").latest("pk")
    assert failure.extra["source"] == "oidc" and failure.extra["reason"] == reason


def test_well_behaved_fake_provider_logs_in_with_pkce(client, fake_provider):
    """The control case: the same provider, not misbehaving, logs frank in."""
    response = fake_log_in(client)

    assert response.status_code == 302
    assert User.objects.filter(username="frank").exists()
    # The token request carried the PKCE verifier (the provider checked it against the
    # challenge of the authorization request).
    assert fake_provider.token_requests[-1]["code_verifier"]


@pytest.mark.parametrize("mode", ["bad_signature", "wrong_issuer", "wrong_audience", "expired"])
def test_spoilt_id_token_is_refused_with_a_clear_page(client, fake_provider, mode):
    fake_provider.mode = mode

    response = fake_log_in(client)

    _refused(response, "id_token")
    assert b"could not be trusted" in response.content
    assert client.get("/accounts/profile/").status_code == 302


def test_id_token_with_another_nonce_is_refused(client, fake_provider):
    fake_provider.mode = "wrong_nonce"

    _refused(fake_log_in(client), "id_token")


def test_callback_with_a_wrong_state_is_refused(client, fake_provider):
    start = client.get("/accounts/oidc/login/")
    answer = requests.get(start["Location"], allow_redirects=False, timeout=10)
    callback = answer.headers["Location"].removeprefix(TESTSERVER)
    forged = callback.replace("state=", "state=x")

    _refused(client.get(forged), "state")


def test_login_csrf_with_the_attackers_own_callback_is_refused(client, fake_provider):
    """The attacker starts a log-in in their browser and sends the victim the callback link,
    hoping to log the victim in as the attacker: the state belongs to another session."""
    attacker = Client()
    start = attacker.get("/accounts/oidc/login/")
    answer = requests.get(start["Location"], allow_redirects=False, timeout=10)
    callback = answer.headers["Location"].removeprefix(TESTSERVER)

    _refused(client.get(callback), "state")


def test_a_callback_cannot_be_used_twice(client, fake_provider):
    start = client.get("/accounts/oidc/login/")
    answer = requests.get(start["Location"], allow_redirects=False, timeout=10)
    callback = answer.headers["Location"].removeprefix(TESTSERVER)
    assert client.get(callback).status_code == 302
    client.logout()

    _refused(client.get(callback), "state", frank_exists=True)
    assert client.get("/accounts/profile/").status_code == 302


def _started_state(client) -> str:
    start = client.get("/accounts/oidc/login/")
    return parse_qs(urlsplit(start["Location"]).query)["state"][0]


def test_error_from_the_provider_is_shown_not_a_500(client, fake_provider):
    state = _started_state(client)

    response = client.get(f"/accounts/oidc/callback/?error=access_denied&state={state}")

    _refused(response, "provider_error")
    assert b"access_denied" in response.content


def test_error_text_of_an_outsider_is_not_shown(client, fake_provider):
    junk = "Call+us+at+555-0100+to+unlock+your+account"
    forged = client.get(f"/accounts/oidc/callback/?error={junk}&state=whatever")
    _refused(forged, "state")
    state = _started_state(client)

    response = client.get(f"/accounts/oidc/callback/?error={junk}&state={state}")

    _refused(response, "provider_error")
    assert b"555-0100" not in response.content and b"unknown_error" in response.content


def test_metadata_naming_another_issuer_is_not_trusted(client, fake_provider, settings):
    settings.LOCKER_OIDC_ISSUER = fake_provider.issuer.replace("127.0.0.1", "localhost")

    response = client.get("/accounts/oidc/login/")

    assert response.status_code == 503
    assert b"cannot be reached" in response.content


def test_provider_that_stops_answering_mid_log_in_gives_503(client, fake_provider):
    start = client.get("/accounts/oidc/login/")
    answer = requests.get(start["Location"], allow_redirects=False, timeout=10)
    fake_provider.stop()
    fake_provider.stop = lambda: None

    response = client.get(answer.headers["Location"].removeprefix(TESTSERVER))

    assert response.status_code == 503
    assert b"Log in with Example SSO" in response.content


def test_started_log_ins_kept_in_the_session_are_bounded(client, fake_provider):
    for _ in range(20):
        client.get("/accounts/oidc/login/")

    keys = [key for key, _value in client.session.items() if key.startswith("_state_locker_oidc_")]
    assert len(keys) <= 5
    assert len(client.session["locker_oidc_pending"]) <= 5


def test_next_pointing_at_another_site_is_ignored(client, fake_provider):
    response = client.get("/accounts/oidc/login/?next=https://evil.example/")
    answer = requests.get(response["Location"], allow_redirects=False, timeout=10)

    back = client.get(answer.headers["Location"].removeprefix(TESTSERVER))

    assert back.status_code == 302 and back["Location"] == "/"


def test_next_on_this_site_is_followed(client, fake_provider):
    response = client.get("/accounts/oidc/login/?next=/accounts/profile/")
    answer = requests.get(response["Location"], allow_redirects=False, timeout=10)

    back = client.get(answer.headers["Location"].removeprefix(TESTSERVER))

    assert back["Location"] == "/accounts/profile/"


def test_refused_callbacks_from_one_network_are_throttled(client, fake_provider):
    for _ in range(30):
        assert client.get("/accounts/oidc/callback/?code=x&state=forged").status_code == 403
    events = AuditEvent.objects.filter(action="login.failure").count()

    response = client.get("/accounts/oidc/callback/?code=x&state=forged")

    assert response.status_code == 429 and int(response["Retry-After"]) > 0
    assert AuditEvent.objects.filter(action="login.failure").count() == events


def test_refusal_inside_the_account_step_is_still_audited(client, fake_provider):
    User.objects.create_user(username="someone", email="frank@example.org", password="x" * 12)

    _refused(fake_log_in(client), "email_taken")


def test_username_the_provider_sends_with_odd_characters_is_made_valid(client, fake_provider):
    fake_provider.extra_claims = {"preferred_username": "Frank de la Rue/<b>"}

    assert fake_log_in(client).status_code == 302

    assert User.objects.get(email="frank@example.org").username == "Frank-de-la-Rue--b-"


def test_rotated_provider_keys_are_fetched_again_at_most_once_a_minute(client, fake_provider):
    assert fake_log_in(client).status_code == 302
    client.logout()
    assert fake_provider.jwks_requests == 1  # then kept in the cache

    fake_provider.rotate_key("k2")
    assert fake_log_in(client).status_code == 302  # unknown key id: the keys fetched again
    client.logout()
    assert fake_provider.jwks_requests == 2

    fake_provider.rotate_key("k3")
    response = fake_log_in(client)

    # Tokens naming unknown keys cannot make Locker fetch the keys at every request.
    assert fake_provider.jwks_requests == 2
    assert response.status_code == 403
