"""Each event is recorded by the real action that causes it (API upload, upload link, share
download, revocation, the expiry job), in the action's transaction, for the endpoints that
listen; and recording never breaks the action. (Delivery through the worker:
tests/workers/test_webhook_worker.py.)"""

import json
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.utils import timezone

from sharing.models import ShareLink
from sharing.services import share_create, shares_cleanup
from sharing.upload_links import upload_link_create
from tests.fixtures.files import upload
from tests.sharing.conftest import make_folder, store_file
from webhooks import services
from webhooks.models import Delivery, Event, Webhook

pytestmark = pytest.mark.django_db


@pytest.fixture
def hook(alice, allow_private):
    webhook, _secret = services.webhook_create(
        owner=alice, url="http://127.0.0.1:9/hook", events=list(Event.values)
    )
    return webhook


def bodies(event: str, webhook=None) -> list[dict]:
    deliveries = Delivery.objects.filter(event=event).order_by("pk")
    if webhook is not None:
        deliveries = deliveries.filter(webhook=webhook)
    return [json.loads(delivery.body) for delivery in deliveries]


def test_an_api_upload_is_file_uploaded_by_its_owner(hook, alice, alice_api):
    response = upload(alice_api, "notes.txt", b"hello")
    assert response.status_code == 201
    (body,) = bodies("file.uploaded")
    assert body["type"] == "file.uploaded"
    file = body["data"]["file"]
    assert file["id"] == response.json()["id"]
    assert (file["name"], file["size"]) == ("notes.txt", 5)
    assert file["folder"]["is_root"] is True
    assert body["data"]["uploaded_by"] == {"user": {"id": alice.pk, "username": "alice"}}
    assert body["data"]["owner"]["username"] == "alice"
    # Without a scanner the file is ready at once.
    assert [b["data"]["file"]["id"] for b in bodies("file.ready")] == [file["id"]]


def test_an_upload_through_a_link_names_the_link_and_fills_it(hook, alice, client):
    inbox = make_folder(alice, "Inbox")
    link, token = upload_link_create(owner=alice, folder=inbox, max_files=2, label="Photos")
    files = [SimpleUploadedFile("a.jpg", b"aaa")]
    assert client.post(f"/r/{token}/upload", {"file": files}).status_code == 201
    assert bodies("upload_link.filled") == []
    files = [SimpleUploadedFile("b.jpg", b"bbb")]
    assert client.post(f"/r/{token}/upload", {"file": files}).status_code == 201
    uploaded = bodies("file.uploaded")
    assert [b["data"]["file"]["name"] for b in uploaded] == ["a.jpg", "b.jpg"]
    assert uploaded[0]["data"]["file"]["folder"]["name"] == "Inbox"
    uploader = uploaded[0]["data"]["uploaded_by"]
    assert uploader["upload_link"] == {"id": str(link.public_id), "label": "Photos"}
    assert uploader["ip"] == "127.0.0.1"
    (filled,) = bodies("upload_link.filled")
    assert filled["data"]["upload_link"]["id"] == str(link.public_id)
    assert filled["data"]["upload_link"]["files_count"] == 2


def test_a_completed_share_download_is_share_downloaded_once(hook, alice, client):
    report = store_file(alice, "report.txt", b"numbers\n" * 100)
    share, token = share_create(owner=alice, file=report)
    partial = client.get(f"/s/{token}/download", HTTP_RANGE="bytes=0-9")
    b"".join(partial.streaming_content)
    assert bodies("share.downloaded") == []
    response = client.get(f"/s/{token}/download")
    assert b"".join(response.streaming_content) == b"numbers\n" * 100
    (body,) = bodies("share.downloaded")
    assert body["data"]["share"]["id"] == str(share.public_id)
    assert body["data"]["share"]["file"]["name"] == "report.txt"
    assert body["data"]["download"]["name"] == "report.txt"
    assert body["data"]["download"]["is_zip"] is False


def test_revoking_a_share_is_share_revoked_once(hook, alice, alice_api):
    report = store_file(alice, "report.txt", b"numbers")
    share, _token = share_create(owner=alice, file=report)
    assert alice_api.delete(f"/api/v1/shares/{share.public_id}/").status_code == 204
    assert alice_api.delete(f"/api/v1/shares/{share.public_id}/").status_code in (204, 404)
    (body,) = bodies("share.revoked")
    assert body["data"]["share"]["id"] == str(share.public_id)
    assert body["data"]["share"]["revoked_at"]


def test_the_expiry_job_reports_expired_shares_once(hook, alice):
    report = store_file(alice, "report.txt", b"numbers")
    expired, _ = share_create(owner=alice, file=report)
    live, _ = share_create(owner=alice, file=report)
    ShareLink.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(1))
    shares_cleanup()
    shares_cleanup()
    assert [b["data"]["share"]["id"] for b in bodies("share.expired")] == [str(expired.public_id)]


def test_who_hears_what(alice, bob, staff, allow_private, alice_api):
    url = "http://127.0.0.1:9/hook"
    mine, _ = services.webhook_create(owner=alice, url=url, events=["file.uploaded"])
    other_event, _ = services.webhook_create(owner=alice, url=url, events=["share.revoked"])
    paused, _ = services.webhook_create(owner=alice, url=url, events=["file.uploaded"])
    services.webhook_update(webhook=paused, data={"active": False})
    bobs, _ = services.webhook_create(owner=bob, url=url, events=["file.uploaded"])
    instance, _ = services.webhook_create(
        owner=staff, url=url, events=["file.uploaded"], scope=Webhook.Scope.INSTANCE
    )
    assert upload(alice_api, "notes.txt", b"hello").status_code == 201
    heard = set(Delivery.objects.values_list("webhook_id", flat=True))
    assert heard == {mine.pk, instance.pk}
    # The instance endpoint of someone who is no longer staff hears nothing more.
    staff.is_staff = False
    staff.save()
    assert upload(alice_api, "more.txt", b"hello").status_code == 201
    assert Delivery.objects.filter(webhook=instance).count() == 1


def test_a_rolled_back_action_records_no_event(hook, alice):
    report = store_file(alice, "report.txt", b"numbers")
    Delivery.objects.all().delete()
    with pytest.raises(RuntimeError), transaction.atomic():
        share, _ = share_create(owner=alice, file=report)
        from sharing.services import share_revoke

        share_revoke(share=share)
        assert Delivery.objects.count() == 1
        raise RuntimeError("the action failed")
    assert Delivery.objects.count() == 0


def test_a_broken_webhook_row_never_breaks_the_upload(hook, alice_api):
    # A row the code cannot read (events is not a list): recording fails, the upload does not.
    Webhook.objects.filter(pk=hook.pk).update(events=5)
    response = upload(alice_api, "notes.txt", b"hello")
    assert response.status_code == 201
    assert Delivery.objects.count() == 0
    assert alice_api.get(f"/api/v1/files/{response.json()['id']}/").status_code == 200


def test_a_tus_upload_through_a_link_is_file_uploaded_by_the_link(hook, alice, client):
    from tests.tus.helpers import create, patch, path_of

    inbox = make_folder(alice, "Inbox")
    link, token = upload_link_create(owner=alice, folder=inbox, max_files=1)
    data = b"resumable bytes" * 100
    url = path_of(create(client, len(data), base=f"/r/{token}/tus/", name="big.bin"))
    assert patch(client, url, 0, data).status_code == 204
    (uploaded,) = bodies("file.uploaded")
    assert uploaded["data"]["file"]["name"] == "big.bin"
    assert uploaded["data"]["file"]["size"] == len(data)
    assert uploaded["data"]["uploaded_by"]["upload_link"]["id"] == str(link.public_id)
    assert [b["data"]["upload_link"]["id"] for b in bodies("upload_link.filled")] == [
        str(link.public_id)
    ]


def test_an_endpoint_with_too_many_pending_deliveries_gets_no_more(hook, alice_api, settings):
    settings.LOCKER_WEBHOOK_MAX_PENDING = 2
    for name in ("a.txt", "b.txt", "c.txt"):
        assert upload(alice_api, name, b"x").status_code == 201
    # file.uploaded then file.ready for a.txt; nothing more waits while those two are pending.
    assert Delivery.objects.filter(webhook=hook).count() == 2
    Delivery.objects.update(state="succeeded", next_attempt_at=None)
    assert upload(alice_api, "d.txt", b"x").status_code == 201
    assert Delivery.objects.filter(webhook=hook, state="pending").count() == 2
