"""E-mails write dates as the pages do (locker/formats.py's exact time, "Nov 30, 2026, 6:21
AM"), not Django's default ("Nov. 30, 2026, 6:21 a.m.") or a raw timestamp (issue 16)."""

from datetime import timedelta

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from locker.formats import exact_time_text
from sharing.models import ShareAccess, UploadLinkUpload
from sharing.services import share_notify_owner
from sharing.upload_links import upload_link_create, upload_link_notify_owner
from tests.sharing.conftest import make_folder

pytestmark = pytest.mark.django_db


def test_the_upload_e_mail_writes_times_as_the_pages(client, alice):
    link, token = upload_link_create(owner=alice, folder=make_folder(alice, "Inbox"), notify=True)
    client.post(f"/r/{token}/upload", {"file": SimpleUploadedFile("a.txt", b"a")})
    upload_link_notify_owner(link_id=link.pk)
    at = UploadLinkUpload.objects.get().at
    assert f"- a.txt (1 B), {exact_time_text(at)}\n" in mail.outbox[0].body


def test_the_download_e_mail_writes_times_as_the_pages(client, report, share_of):
    share, token = share_of(report, notify=True)
    b"".join(client.get(f"/s/{token}/download").streaming_content)
    share_notify_owner(share_id=share.pk)
    at = ShareAccess.objects.get(share=share).at
    assert f"- “report.txt”, {exact_time_text(at)}\n" in mail.outbox[0].body


def test_the_link_e_mail_writes_the_expiry_as_the_pages(
    alice_api, report, share_of, django_capture_on_commit_callbacks, eager_celery
):
    expires_at = timezone.now() + timedelta(days=3)
    share, _token = share_of(report, expires_at=expires_at)
    with django_capture_on_commit_callbacks(execute=True):
        alice_api.post(
            f"/api/v1/shares/{share.public_id}/email/",
            {"recipients": ["bob@example.com"]},
            format="json",
        )
    sentence = f"The link works until {exact_time_text(expires_at)}"
    assert sentence in mail.outbox[0].body
    assert sentence in mail.outbox[0].alternatives[0][0]
