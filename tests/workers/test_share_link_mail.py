"""A share link e-mailed from the Share dialog's endpoint is sent by a real worker, which opens
the link's sealed token itself (the task carries the link's id, never its token)."""

import re

import pytest
from django.core import mail

from sharing.services import share_create
from tests.sharing.conftest import store_file
from tests.workers.conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_worker_sends_the_share_link_by_email(alice, alice_api, start_worker, settings):
    settings.LOCKER_BASE_URL = "https://locker.example.org"
    worker = start_worker(
        env={
            "EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend",
            "LOCKER_BASE_URL": "https://locker.example.org",
        }
    )
    share, token = share_create(owner=alice, file=store_file(alice, "plan.txt", b"the plan"))
    response = alice_api.post(
        f"/api/v1/shares/{share.public_id}/email/",
        {"recipients": ["bob@example.com"], "message": "For Friday"},
        format="json",
    )
    assert response.status_code == 202
    assert mail.outbox == []  # nothing was sent by this (the web) process
    # The worker's log masks link tokens (locker's log filter), so the link shows as /s/***;
    # tests/sharing/test_share_link_email.py checks the token sent, through the same task.
    wait_for(
        lambda: re.search(rb"send_share_link_email\[[^\]]+\] succeeded", worker.log.read_bytes()),
        what="the worker to send the share link",
    )
    log = worker.log.read_text(errors="replace")
    assert "To: bob@example.com" in log and "For Friday" in log
    assert "https://locker.example.org/s/***" in log
    assert token not in log
