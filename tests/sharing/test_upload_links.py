"""Upload links: the page and form uploads, the API, the owner's e-mail, and tus through a link."""

import os
from datetime import timedelta

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from files.models import File, TusUpload
from files.services import folder_trash
from sharing.models import UploadLink, UploadLinkUpload
from sharing.upload_links import upload_link_create, upload_link_notify_owner, upload_link_revoke
from tests.sharing.conftest import make_folder, store_file
from tests.tus.helpers import TUS, create, head, patch, path_of, stored_bytes


@pytest.fixture
def inbox(alice):
    return make_folder(alice, "Inbox")


@pytest.fixture
def link_of(alice, inbox):
    def make(**options):
        return upload_link_create(owner=alice, folder=inbox, **options)

    return make


def upload(client, token, *files, **extra):
    parts = [SimpleUploadedFile(name, data) for name, data in files]
    return client.post(f"/r/{token}/upload", {"file": parts}, **extra)


def test_upload_page_shows_the_message_escaped(client, link_of):
    _link, token = link_of(message="Send me <b>your</b> photos")
    response = client.get(f"/r/{token}")
    assert response.status_code == 200
    body = response.content.decode()
    assert "Send me &lt;b&gt;your&lt;/b&gt; photos" in body
    assert response["Referrer-Policy"] == "no-referrer"


def test_anyone_with_the_link_uploads_into_the_folder(client, alice, inbox, link_of):
    link, token = link_of()
    response = upload(client, token, ("photo.txt", b"pixels"))
    assert response.status_code == 201
    assert response.json() == {"files": [{"name": "photo.txt", "size": 6}], "files_left": None}
    stored = File.objects.get(folder=inbox, name="photo.txt")
    assert stored.owner == alice
    alice.refresh_from_db()
    assert alice.used_bytes >= 6
    link.refresh_from_db()
    assert link.files_count == 1


def test_the_media_type_is_matched_whatever_its_case(client, inbox, link_of):
    """Media types are case-insensitive (RFC 9110): `Multipart/Form-Data` is an upload too."""
    _link, token = link_of()
    boundary = "b0undary"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n'
        f"Content-Type: text/plain\r\n\r\nabc\r\n--{boundary}--\r\n"
    ).encode()
    response = client.generic(
        "POST",
        f"/r/{token}/upload",
        body,
        content_type=f"Multipart/Form-Data; boundary={boundary}",
    )
    assert response.status_code == 201, response.content
    assert File.objects.filter(folder=inbox, name="a.txt").exists()


def test_the_uploader_sees_nothing_of_the_folder(client, alice, inbox, link_of):
    store_file(alice, "salary.txt", b"secret", folder=inbox)
    _link, token = link_of()
    page = client.get(f"/r/{token}").content.decode()
    assert "salary" not in page
    response = upload(client, token, ("salary.txt", b"mine"))
    assert response.status_code == 201
    # The stored copy is renamed; the answer must not tell (it would reveal the existing file).
    assert response.json()["files"][0]["name"] == "salary.txt"
    assert File.objects.filter(folder=inbox, name="salary (1).txt").exists()


def test_max_files_is_enforced(client, link_of):
    _link, token = link_of(max_files=3)
    assert upload(client, token, ("a.txt", b"a")).json()["files_left"] == 2  # the page's count
    assert upload(client, token, ("a.txt", b"a"), ("b.txt", b"b")).json()["files_left"] == 0
    assert upload(client, token, ("c.txt", b"c")).status_code == 410
    assert client.get(f"/r/{token}").status_code == 410


def test_too_many_files_in_one_request_are_all_refused(client, inbox, link_of):
    _link, token = link_of(max_files=1)
    response = upload(client, token, ("a.txt", b"a"), ("b.txt", b"b"))
    assert response.status_code == 410
    assert not File.objects.filter(folder=inbox).exists()


def test_max_file_size_is_enforced_and_nothing_is_kept(client, inbox, link_of):
    _link, token = link_of(max_file_size=10)
    response = upload(client, token, ("big.bin", b"x" * 11))
    assert response.status_code == 413
    assert "detail" in response.json()
    assert not File.objects.filter(folder=inbox).exists()


def test_owner_quota_applies(client, alice, link_of):
    alice.quota_bytes = 5
    alice.save()
    _link, token = link_of()
    response = upload(client, token, ("big.bin", b"x" * 100))
    assert response.status_code == 507


def test_revoked_upload_link_answers_410(client, link_of):
    link, token = link_of()
    upload_link_revoke(link=link)
    assert client.get(f"/r/{token}").status_code == 410
    assert upload(client, token, ("a.txt", b"a")).status_code == 410


def test_trashed_folder_kills_the_upload_link(client, inbox, link_of):
    _link, token = link_of()
    folder_trash(folder=inbox)
    assert upload(client, token, ("a.txt", b"a")).status_code == 410


def test_unknown_upload_token_answers_404(client, db):
    assert client.get("/r/" + "Q" * 43).status_code == 404
    assert upload(client, "Q" * 43, ("a.txt", b"a")).status_code == 404


def test_password_protected_upload_link(client, inbox, link_of):
    _link, token = link_of(password="let me in")
    page = client.get(f"/r/{token}")
    assert 'name="password"' in page.content.decode()
    assert upload(client, token, ("a.txt", b"a")).status_code == 401
    assert (
        upload(client, token, ("a.txt", b"a"), HTTP_X_SHARE_PASSWORD="let me in").status_code == 201
    )
    unlocked = client.post(f"/r/{token}", {"password": "let me in"})
    assert unlocked.status_code == 303
    assert upload(client, token, ("b.txt", b"b")).status_code == 201


def test_a_share_unlock_does_not_open_an_upload_link(client, alice, report, share_of, link_of):
    from sharing.tokens import UNLOCK_COOKIE

    _share, share_token = share_of(report, password="same")
    _link, token = link_of(password="same")
    cookie = client.post(f"/s/{share_token}", {"password": "same"}).cookies[UNLOCK_COOKIE].value
    client.cookies[UNLOCK_COOKIE] = cookie
    assert upload(client, token, ("a.txt", b"a")).status_code == 401


def test_owner_gets_one_email_for_a_batch_of_uploads(client, alice, link_of):
    link, token = link_of()
    upload(client, token, ("a.txt", b"a"))
    upload(client, token, ("b.txt", b"b"))
    assert upload_link_notify_owner(link_id=link.pk) == 2
    assert len(mail.outbox) == 1
    assert "a.txt" in mail.outbox[0].body and "b.txt" in mail.outbox[0].body
    assert upload_link_notify_owner(link_id=link.pk) == 0  # nothing reported twice
    assert UploadLinkUpload.objects.filter(notified_at__isnull=True).count() == 0


def test_api_creates_lists_edits_and_revokes_upload_links(alice_api, bob_api, inbox, client):
    response = alice_api.post(
        "/api/v1/upload-links/",
        {"folder": str(inbox.public_id), "max_files": 3, "max_file_size": "1M", "message": "hi"},
        format="json",
    )
    assert response.status_code == 201
    data = response.json()
    assert data["url"].endswith(f"/r/{data['token']}")
    assert data["max_file_size"] == 1024 * 1024
    assert len(alice_api.get("/api/v1/upload-links/").json()["results"]) == 1
    url = f"/api/v1/upload-links/{data['id']}/"
    assert bob_api.get(url).status_code == 404
    assert bob_api.delete(url).status_code == 404
    patched = alice_api.patch(url, {"max_files": 5}, format="json")
    assert patched.json()["max_files"] == 5
    assert alice_api.delete(url).status_code == 204
    assert client.get(f"/r/{data['token']}").status_code == 410
    assert UploadLink.objects.get(public_id=data["id"]).revoked_at is not None


def test_api_refuses_a_foreign_folder(bob_api, inbox):
    response = bob_api.post(
        "/api/v1/upload-links/", {"folder": str(inbox.public_id)}, format="json"
    )
    assert response.status_code == 404


# --- tus through an upload link (`/r/<token>/tus/`): the link's rules apply to every request


@pytest.fixture
def tus_link_of(alice, inbox):
    def make(**options):
        link, token = upload_link_create(owner=alice, folder=inbox, **options)
        return link, token, f"/r/{token}/tus/"

    return make


def test_upload_through_a_link_lands_in_its_folder_and_is_recorded(
    client, alice, inbox, tus_link_of
):
    link, _token, base = tus_link_of()
    data = os.urandom(300_000)
    response = create(client, len(data), base=base, name="photo.jpg", body=data[:1000])
    assert response.status_code == 201, response.content
    assert response["Referrer-Policy"] == "no-referrer"
    url = path_of(response)
    assert url.startswith(base)
    assert patch(client, url, 1000, data[1000:]).status_code == 204
    file = File.objects.get(owner=alice)
    assert file.folder == inbox
    assert stored_bytes(file) == data
    assert UploadLinkUpload.objects.get(link=link).file == file
    link.refresh_from_db()
    assert link.files_count == 1


def test_link_upload_is_invisible_through_the_api_and_other_links(alice_api, client, tus_link_of):
    _link, _token, base = tus_link_of()
    _other, _other_token, other_base = tus_link_of()
    url = path_of(create(client, 10, base=base))
    upload_id = url.rsplit("/", 1)[1]
    assert head(alice_api, f"/api/v1/tus/{upload_id}").status_code == 404
    assert head(client, f"{other_base}{upload_id}").status_code == 404
    assert head(client, url).status_code == 200


def test_link_max_file_size_applies_to_the_declared_length(client, tus_link_of):
    _link, _token, base = tus_link_of(max_file_size=100)
    assert create(client, 101, base=base).status_code == 413
    assert create(client, 100, base=base).status_code == 201


def test_owner_quota_applies_without_telling_the_uploader_about_it(client, alice, tus_link_of):
    alice.quota_bytes = 50
    alice.save()
    _link, _token, base = tus_link_of()
    response = create(client, 51, base=base)
    assert response.status_code == 507
    assert response.json()["detail"] == "There is no room left for uploads on this link."


def test_max_files_counts_tus_uploads(client, tus_link_of):
    _link, _token, base = tus_link_of(max_files=1)
    assert create(client, 1, base=base, body=b"a").status_code == 201
    assert create(client, 1, base=base).status_code == 410


def test_revoked_link_stops_an_upload_in_progress(client, tus_link_of):
    link, _token, base = tus_link_of()
    url = path_of(create(client, 10, base=base))
    assert patch(client, url, 0, b"12345").status_code == 204
    upload_link_revoke(link=link)
    assert patch(client, url, 5, b"67890").status_code == 410
    assert head(client, url).status_code == 410


def test_expired_link_refuses_new_uploads(client, tus_link_of):
    link, _token, base = tus_link_of()
    UploadLink.objects.filter(pk=link.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    assert create(client, 10, base=base).status_code == 410


def test_password_protected_link_needs_the_unlock_cookie(client, tus_link_of):
    _link, token, base = tus_link_of(password="let me in")
    assert create(client, 10, base=base).status_code == 401
    client.post(f"/r/{token}", {"password": "let me in"})
    assert create(client, 10, base=base).status_code == 201


def test_link_options_and_missing_tus_resumable(client, tus_link_of):
    _link, _token, base = tus_link_of()
    assert client.options(base)["Tus-Version"] == "1.0.0"
    assert client.generic("POST", base, HTTP_UPLOAD_LENGTH="3").status_code == 412


def test_link_upload_can_be_terminated(client, tus_link_of):
    _link, _token, base = tus_link_of()
    url = path_of(create(client, 10, base=base, body=b"12345"))
    assert client.delete(url, **TUS).status_code == 204
    assert not TusUpload.objects.exists()


def test_uploads_started_together_cannot_exceed_max_files(client, tus_link_of):
    _link, _token, base = tus_link_of(max_files=1)
    first = path_of(create(client, 3, base=base, name="a.txt"))
    # The upload in progress takes the one file left: a second one is not even started.
    second = create(client, 3, base=base, name="b.txt")
    assert second.status_code == 429
    assert int(second["Retry-After"]) > 0
    assert patch(client, first, 0, b"one").status_code == 204
    assert create(client, 3, base=base, name="b.txt").status_code == 410
    assert list(File.objects.values_list("name", flat=True)) == ["a.txt"]
