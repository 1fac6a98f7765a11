import re

import pytest
from django.core import mail

pytestmark = pytest.mark.django_db

RESET = "/accounts/password_reset/"


@pytest.fixture
def sent_by_worker(eager_celery):
    """The e-mail task, queued when the request's transaction commits, runs there and then
    (the tests using it commit for real: django_db(transaction=True))."""


@pytest.mark.django_db(transaction=True)
def test_reset_answers_alike_for_known_and_unknown_addresses(client, alice, sent_by_worker):
    known = client.post(RESET, {"email": "alice@example.com"}, follow=True)
    unknown = client.post(RESET, {"email": "nobody@example.com"}, follow=True)
    assert known.redirect_chain == unknown.redirect_chain
    assert known.content == unknown.content
    assert "If an account exists" in known.content.decode()
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["alice@example.com"]


@pytest.mark.django_db(transaction=True)
def test_reset_link_uses_the_configured_base_url_and_sets_a_new_password(
    client, alice, settings, sent_by_worker
):
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


@pytest.mark.django_db(transaction=True)
def test_reset_requests_from_one_address_are_limited(client, alice, sent_by_worker):
    from accounts.throttles import EMAIL_REQUEST_THROTTLE

    for _ in range(EMAIL_REQUEST_THROTTLE.limit):
        assert client.post(RESET, {"email": "alice@example.com"}).status_code == 302
    response = client.post(RESET, {"email": "alice@example.com"})
    assert response.status_code == 429
    assert "Too many e-mails" in response.content.decode()
    assert len(mail.outbox) == EMAIL_REQUEST_THROTTLE.limit


def test_the_request_only_queues_the_same_work_for_known_and_unknown_addresses(
    client, alice, django_capture_on_commit_callbacks
):
    """Sending takes time only when an account exists: the request must not do it."""
    with django_capture_on_commit_callbacks(execute=False) as known:
        client.post(RESET, {"email": "alice@example.com"})
    with django_capture_on_commit_callbacks(execute=False) as unknown:
        client.post(RESET, {"email": "nobody@example.com"})
    assert len(known) == len(unknown) == 1
    assert mail.outbox == []


def test_the_worker_sends_one_link_per_account_with_that_address(alice, settings):
    from accounts.services import password_reset_send

    settings.LOCKER_BASE_URL = "https://locker.example.org"
    assert password_reset_send(email="ALICE@example.com") == 1
    assert password_reset_send(email="nobody@example.com") == 0
    assert password_reset_send(email="not an address") == 0
    assert [m.to for m in mail.outbox] == [["alice@example.com"]]
    assert "https://locker.example.org/accounts/reset/" in mail.outbox[0].body
