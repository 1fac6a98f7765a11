"""Webhooks end to end: each event caused by its real action (API upload, a clamd scan finding
EICAR, an upload link's last file, a completed share download, a revocation, the expiry job)
is delivered by a real Celery worker to a real receiver on 127.0.0.1, signed as
docs/webhooks.md says; a receiver answering 500 then 200 gets the same event again."""

import json
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from locker.celery import task_queue
from sharing.models import ShareLink
from sharing.services import share_create
from sharing.upload_links import upload_link_create
from tests.fixtures.files import upload
from tests.sharing.conftest import make_folder
from tests.webhooks.receiver import Receiver
from tests.webhooks.test_deliveries import documented_verify
from tests.workers.conftest import EICAR, clamav_env, wait_for
from webhooks import services
from webhooks.models import Delivery, Event

pytestmark = pytest.mark.django_db(transaction=True)

WORKER_ENV = {"LOCKER_WEBHOOK_ALLOW_PRIVATE": "true", "LOCKER_WEBHOOK_RETRY_DELAYS": "1s,1s"}


@pytest.fixture
def receiver(settings):
    settings.LOCKER_WEBHOOK_ALLOW_PRIVATE = True
    with Receiver() as server:
        yield server


def _received(receiver, event: str, count: int = 1) -> list[dict]:
    wait_for(lambda: len(receiver.of_type(event)) >= count, timeout=60, what=f"{event} delivered")
    return [json.loads(request.body) for request in receiver.of_type(event)]


def test_every_event_is_delivered_by_the_worker_from_its_real_action(
    alice, alice_api, receiver, start_worker, clamd, scanner_settings
):
    start_worker(env={**clamav_env(clamd), **WORKER_ENV})
    webhook, secret = services.webhook_create(
        owner=alice, url=receiver.url(), events=list(Event.values)
    )

    photo = upload(alice_api, "photo.txt", b"just text").json()
    (uploaded,) = _received(receiver, "file.uploaded")
    assert uploaded["data"]["file"]["id"] == photo["id"]
    assert uploaded["data"]["file"]["state"] == "pending"
    (ready,) = _received(receiver, "file.ready")
    assert ready["data"]["file"]["id"] == photo["id"] and ready["data"]["file"]["state"] == "ready"

    eicar = upload(alice_api, "eicar.com", EICAR).json()
    (infected,) = _received(receiver, "file.infected")
    assert infected["data"]["file"]["id"] == eicar["id"]
    assert "Locker.Test.EICAR" in infected["data"]["virus"]

    inbox = make_folder(alice, "Inbox")
    link, token = upload_link_create(owner=alice, folder=inbox, max_files=1)
    sent = Client().post(f"/r/{token}/upload", {"file": [SimpleUploadedFile("a.txt", b"a")]})
    assert sent.status_code == 201
    (filled,) = _received(receiver, "upload_link.filled")
    assert filled["data"]["upload_link"]["id"] == str(link.public_id)
    by_link = [
        b
        for b in _received(receiver, "file.uploaded", 3)
        if "upload_link" in b["data"]["uploaded_by"]
    ]
    assert by_link[0]["data"]["file"]["name"] == "a.txt"

    from files.models import File

    share, share_token = share_create(owner=alice, file=File.objects.get(public_id=photo["id"]))
    download = Client().get(f"/s/{share_token}/download")
    assert b"".join(download.streaming_content) == b"just text"
    (downloaded,) = _received(receiver, "share.downloaded")
    assert downloaded["data"]["share"]["id"] == str(share.public_id)

    assert alice_api.delete(f"/api/v1/shares/{share.public_id}/").status_code == 204
    (revoked,) = _received(receiver, "share.revoked")
    assert revoked["data"]["share"]["id"] == str(share.public_id)

    expiring, _ = share_create(owner=alice, file=File.objects.get(public_id=photo["id"]))
    ShareLink.objects.filter(pk=expiring.pk).update(expires_at=timezone.now() - timedelta(1))
    task_queue("sharing.tasks.cleanup_shares")  # the beat entry's task, run by the worker
    (expired,) = _received(receiver, "share.expired")
    assert expired["data"]["share"]["id"] == str(expiring.public_id)

    verify = documented_verify()
    assert receiver.requests
    for request in receiver.requests:
        assert verify(secret, request.headers["Locker-Signature"], request.body)
    # The worker records each answer just after the receiver has it.
    wait_for(
        lambda: not Delivery.objects.filter(webhook=webhook).exclude(state="succeeded").exists(),
        what="every delivery recorded as delivered",
    )


def test_a_500_is_retried_by_the_worker_until_a_200(alice, alice_api, receiver, start_worker):
    start_worker(env=WORKER_ENV)
    receiver.answer((500, {}, b"busy"), (200, {}, b"ok"))
    created = alice_api.post(
        "/api/v1/webhooks/", {"url": receiver.url(), "events": ["file.uploaded"]}, format="json"
    ).json()
    queued = alice_api.post(f"/api/v1/webhooks/{created['id']}/test/").json()
    wait_for(
        lambda: Delivery.objects.filter(public_id=queued["id"], state="succeeded").exists(),
        timeout=60,
        what="the retried delivery to succeed",
    )
    first, second = receiver.requests
    assert first.body == second.body
    assert first.headers["Locker-Delivery"] == second.headers["Locker-Delivery"] == queued["id"]
    log = alice_api.get(f"/api/v1/webhooks/{created['id']}/deliveries/").json()["results"]
    assert (log[0]["attempts"], log[0]["last_status"], log[0]["last_response"]) == (2, 200, "ok")
