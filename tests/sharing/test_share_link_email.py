"""Sending a share link by e-mail (Share dialog, `POST /api/v1/shares/<id>/email/`): checked and
queued by the request, sent by the worker task, limited per user, the message escaped."""

import pytest
from django.core import mail

from accounts.models import AuditEvent
from sharing.models import ShareLink

pytestmark = pytest.mark.django_db


@pytest.fixture
def send(alice_api, django_capture_on_commit_callbacks, eager_celery):
    """POST the e-mail request, then run what it queued on commit (the worker task, eagerly)."""

    def post(share, api=None, **body):
        with django_capture_on_commit_callbacks(execute=True):
            return (api or alice_api).post(
                f"/api/v1/shares/{share.public_id}/email/", body, format="json"
            )

    return post


def test_each_recipient_gets_the_link_from_the_worker(send, report, share_of, alice, client):
    alice.display_name = "Alice A."
    alice.save()
    share, token = share_of(report)
    response = send(share, recipients=["bob@example.com", "carol@example.org"], message="Hi!")
    assert response.status_code == 202
    assert response.json() == {"recipients": 2}
    assert sorted(m.to[0] for m in mail.outbox) == ["bob@example.com", "carol@example.org"]
    email = mail.outbox[0]
    assert len(email.to) == 1  # no one sees the other addresses
    assert "Alice A." in email.subject and "report.txt" in email.subject
    assert f"/s/{token}" in email.body and "Hi!" in email.body
    html, mimetype = email.alternatives[0]
    assert mimetype == "text/html" and f"/s/{token}" in html
    assert client.get(f"/s/{token}").status_code == 200
    # The audit log says how many, not who.
    (event,) = AuditEvent.objects.filter(action="share.emailed")
    assert event.actor == alice and event.extra == {"recipients": 2}
    assert "bob@example.com" not in str(event.__dict__)


def test_the_message_is_escaped_in_the_html_part(send, report, share_of):
    share, _token = share_of(report)
    send(share, recipients=["bob@example.com"], message='<script>alert(1)</script><a href="x">')
    html = mail.outbox[0].alternatives[0][0]
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert '<a href="x">' not in html
    assert "<script>alert(1)</script>" in mail.outbox[0].body  # plain text: shown as typed


def test_a_bad_address_is_a_field_error_and_nothing_is_sent(send, report, share_of):
    share, _token = share_of(report)
    response = send(share, recipients=["bob@example.com", "not an address"])
    assert response.status_code == 400
    body = response.json()
    assert "not an address" in body["errors"]["recipients"][0]
    assert body["detail"]
    assert send(share, recipients=[]).json()["errors"]["recipients"]
    assert send(share, recipients=["a@example.com"], message="x" * 2001).status_code == 400
    assert mail.outbox == []


def test_recipients_are_limited_per_user_per_hour(send, report, share_of, settings):
    settings.LOCKER_SHARE_EMAIL_PER_HOUR = 3
    share, _token = share_of(report)
    assert send(share, recipients=["a@example.com", "b@example.com"]).status_code == 202
    refused = send(share, recipients=["c@example.com", "d@example.com"])
    assert refused.status_code == 429
    assert "too many" in refused.json()["detail"] and int(refused["Retry-After"]) > 0
    # The refused request used none of the allowance.
    assert send(share, recipients=["e@example.com"]).status_code == 202
    assert sorted(m.to[0] for m in mail.outbox) == [
        "a@example.com",
        "b@example.com",
        "e@example.com",
    ]
    assert send(share, recipients=["f@example.com"]).status_code == 429


def test_another_user_cannot_send_someone_elses_link(send, bob_api, report, share_of):
    share, _token = share_of(report)
    response = send(share, api=bob_api, recipients=["victim@example.com"])
    assert response.status_code == 404
    assert mail.outbox == []


def test_a_revoked_or_legacy_link_is_not_sent(send, alice_api, report, share_of):
    share, _token = share_of(report)
    alice_api.delete(f"/api/v1/shares/{share.public_id}/")
    response = send(share, recipients=["bob@example.com"])
    assert response.status_code == 400 and "no longer works" in response.json()["detail"]
    legacy, _token = share_of(report)
    ShareLink.objects.filter(pk=legacy.pk).update(token_sealed=None, token_key_id="")
    response = send(legacy, recipients=["bob@example.com"])
    assert response.status_code == 400 and "shown only at creation" in response.json()["detail"]
    assert mail.outbox == []


def test_the_task_sends_nothing_for_a_link_revoked_after_queueing(report, share_of, alice):
    from sharing.services import share_revoke
    from sharing.tasks import send_share_link_email

    share, _token = share_of(report)
    share_revoke(share=share)
    assert send_share_link_email(share.pk, ["bob@example.com"], "", alice.pk) == 0
    assert mail.outbox == []
