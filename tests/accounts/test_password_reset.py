import re

import pytest
from django.core import mail

pytestmark = pytest.mark.django_db

RESET = "/accounts/password_reset/"


def test_reset_answers_alike_for_known_and_unknown_addresses(client, alice):
    known = client.post(RESET, {"email": "alice@example.com"}, follow=True)
    unknown = client.post(RESET, {"email": "nobody@example.com"}, follow=True)
    assert known.redirect_chain == unknown.redirect_chain
    assert known.content == unknown.content
    assert "If an account exists" in known.content.decode()
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["alice@example.com"]


def test_reset_link_uses_the_configured_base_url_and_sets_a_new_password(client, alice, settings):
    settings.LOCKER_BASE_URL = "https://locker.example.org"
    client.post(RESET, {"email": "alice@example.com"}, HTTP_HOST="localhost")
    body = mail.outbox[0].body
    link = re.search(r"https://locker\.example\.org(/accounts/reset/\S+)", body).group(1)
    assert "//localhost" not in body
    response = client.get(link, follow=True)
    assert response.status_code == 200
    form_url = response.redirect_chain[-1][0]
    response = client.post(
        form_url,
        {"new_password1": "brand new secret 77", "new_password2": "brand new secret 77"},
    )
    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.check_password("brand new secret 77")
    # The link works once.
    assert "no longer works" in client.get(link, follow=True).content.decode()


def test_reset_requests_from_one_address_are_limited(client, alice):
    from accounts.throttles import EMAIL_REQUEST_THROTTLE

    for _ in range(EMAIL_REQUEST_THROTTLE.limit):
        assert client.post(RESET, {"email": "alice@example.com"}).status_code == 302
    response = client.post(RESET, {"email": "alice@example.com"})
    assert response.status_code == 429
    assert "Too many e-mails" in response.content.decode()
    assert len(mail.outbox) == EMAIL_REQUEST_THROTTLE.limit
