"""The password-reset e-mail is sent by a real worker, not by the web request."""

import pytest
from django.core import mail

from tests.workers.conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_worker_sends_the_link_the_reset_page_asked_for(client, alice, start_worker):
    worker = start_worker(
        env={
            "EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend",
            "LOCKER_BASE_URL": "https://locker.example.org",
        }
    )
    for address in ("nobody@example.com", "alice@example.com"):
        response = client.post("/accounts/password_reset/", {"email": address})
        assert response.status_code == 302
    assert mail.outbox == []  # nothing was sent by this (the web) process
    wait_for(
        lambda: b"https://locker.example.org/accounts/reset/" in worker.log.read_bytes(),
        what="the worker to send the reset e-mail",
    )
    log = worker.log.read_text(errors="replace")
    assert "To: alice@example.com" in log
    assert log.count("/accounts/reset/") == 1
