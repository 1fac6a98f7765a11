import pytest
from django.test import override_settings

from files.responses import blob_etag
from sharing.access import unknown_token_throttle
from sharing.models import ShareAccess
from sharing.upload_links import upload_link_create
from tests.sharing.conftest import make_folder


def test_head_does_not_count_a_download(client, report, share_of):
    share, token = share_of(report, max_downloads=1)
    response = client.head(f"/s/{token}/download")
    assert response.status_code == 200
    assert response["Content-Length"] == str(report.size)
    share.refresh_from_db()
    assert share.download_count == 0
    assert not ShareAccess.objects.exists()


def test_not_modified_answer_does_not_count(client, report, share_of):
    share, token = share_of(report, max_downloads=1)
    response = client.get(f"/s/{token}/download", HTTP_IF_NONE_MATCH=blob_etag(report.blob))
    assert response.status_code == 304
    share.refresh_from_db()
    assert share.download_count == 0


def test_an_interrupted_download_is_logged_as_incomplete(report, share_of):
    from sharing.services import share_access_start
    from sharing.share_downloads import metered

    share, _token = share_of(report)
    access = share_access_start(
        share=share,
        ip="192.0.2.1",
        user_agent="",
        file=report,
        name=report.name,
        is_zip=False,
        counted=True,
        range_start=0,
    )
    stream = metered(iter([b"x" * 10, b"y" * 10]), access_id=access.pk, expected=20)
    assert next(stream) == b"x" * 10
    stream.close()  # what the WSGI server does when the client goes away
    access.refresh_from_db()
    assert (access.completed, access.bytes_sent) == (False, 10)


def test_unknown_tokens_are_throttled_per_address(client, db):
    throttle = unknown_token_throttle()
    for _ in range(throttle.limit):
        throttle.hit("127.0.0.1")
    response = client.get("/s/" + "N" * 43)
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0


def test_preview_only_folder_share_refuses_single_file_downloads(client, alice, share_of):
    from tests.sharing.conftest import store_file

    folder = make_folder(alice, "Look only")
    store_file(alice, "a.txt", b"a", folder=folder)
    share, token = share_of(folder, allow_download=False)
    body = client.get(f"/s/{token}").content.decode()
    assert "/download" not in body
    from sharing.tokens import opaque_id

    file = folder.files.get()
    assert (
        client.get(f"/s/{token}/files/{opaque_id(share.token_hash, file.public_id)}/download")
    ).status_code == 403
    assert client.get(f"/s/{token}/download").status_code == 403


def test_subfolder_zip_downloads_only_that_subfolder(client, alice, share_of):
    import io
    import re
    import zipfile

    from tests.sharing.conftest import store_file

    top = make_folder(alice, "Top")
    sub = make_folder(alice, "Sub", parent=top)
    store_file(alice, "top.txt", b"t", folder=top)
    store_file(alice, "sub.txt", b"s", folder=sub)
    _share, token = share_of(top)
    (sub_link,) = re.findall(
        r'href="(/s/[^"]+/folders/[A-Za-z0-9_-]{22})"', client.get(f"/s/{token}").content.decode()
    )
    response = client.get(f"{sub_link}/download")
    assert response.status_code == 200
    names = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))).namelist()
    assert names == ["sub.txt"]


def test_upload_link_refuses_bad_names_with_a_sentence(client, alice):
    inbox = make_folder(alice, "Inbox")
    _link, token = upload_link_create(owner=alice, folder=inbox)
    body = (
        b"--BOUNDARY\r\n"
        b'Content-Disposition: form-data; name="file"; filename="bad\x01name.txt"\r\n'
        b"Content-Type: text/plain\r\n\r\n"
        b"hello\r\n"
        b"--BOUNDARY--\r\n"
    )
    response = client.generic(
        "POST", f"/r/{token}/upload", body, content_type="multipart/form-data; boundary=BOUNDARY"
    )
    assert response.status_code == 400
    assert response.json()["detail"]
    assert not inbox.files.exists()


def test_upload_link_password_form_from_another_site_is_refused(client, alice):
    inbox = make_folder(alice, "Inbox")
    _link, token = upload_link_create(owner=alice, folder=inbox, password="pw")
    response = client.post(f"/r/{token}", {"password": "pw"}, HTTP_SEC_FETCH_SITE="cross-site")
    assert response.status_code == 403


@override_settings(LOCKER_SHARE_PASSWORD_ATTEMPTS=2)
def test_upload_link_passwords_are_throttled(client, alice):
    inbox = make_folder(alice, "Inbox")
    _link, token = upload_link_create(owner=alice, folder=inbox, password="pw")
    for _ in range(2):
        assert client.post(f"/r/{token}", {"password": "no"}).status_code == 403
    assert client.post(f"/r/{token}", {"password": "pw"}).status_code == 429


def test_admin_lists_links_with_hostile_labels_escaped(client, staff, report, share_of):
    share, _token = share_of(report, label="<script>x()</script>")
    client.force_login(staff)
    listing = client.get("/admin/sharing/sharelink/")
    assert listing.status_code == 200
    assert "<script>x()" not in listing.content.decode()
    assert client.get(f"/admin/sharing/sharelink/{share.pk}/change/").status_code == 200


def test_a_download_e_mail_lost_on_its_way_is_sent_by_the_cleanup(
    client, report, share_of, eager_celery
):
    """The download queued its e-mail, and the broker lost it (here: the commit hook never
    ran). The hourly cleanup finds the downloads left unreported and queues their e-mail."""
    from datetime import timedelta

    from django.core import mail
    from django.utils import timezone

    from sharing.services import shares_cleanup

    share, token = share_of(report, notify=True)
    b"".join(client.get(f"/s/{token}/download").streaming_content)
    assert mail.outbox == []
    assert shares_cleanup()["notifications_requeued"] == 0  # not overdue yet
    later = timezone.now() + timedelta(minutes=11)
    assert shares_cleanup(now=later)["notifications_requeued"] == 1
    assert [message.subject for message in mail.outbox] == ["Someone downloaded “report.txt”"]
    assert shares_cleanup(now=later)["notifications_requeued"] == 0  # reported once


def test_a_mail_server_error_leaves_the_downloads_to_report_again(
    client, report, share_of, settings
):
    from django.core import mail

    from sharing.services import share_notify_owner

    share, token = share_of(report, notify=True)
    b"".join(client.get(f"/s/{token}/download").streaming_content)
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", 9  # nothing listens: refused
    with pytest.raises(OSError):  # the task retries on it
        share_notify_owner(share_id=share.pk)
    assert ShareAccess.objects.get(share=share).notify_pending
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert share_notify_owner(share_id=share.pk) == 1
    assert len(mail.outbox) == 1
