"""tus through an upload link (`/r/<token>/tus/`): the link's rules apply to every request."""

import os
from datetime import timedelta

import pytest
from django.utils import timezone

from files.models import File, TusUpload
from files.services import folder_create
from sharing.models import UploadLink, UploadLinkUpload
from sharing.upload_links import upload_link_create, upload_link_revoke
from tests.tus.helpers import TUS, create, head, patch, path_of, stored_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def inbox(alice):
    return folder_create(user=alice, parent=None, name="Inbox")


@pytest.fixture
def link_of(alice, inbox):
    def make(**options):
        link, token = upload_link_create(owner=alice, folder=inbox, **options)
        return link, token, f"/r/{token}/tus/"

    return make


def test_upload_through_a_link_lands_in_its_folder_and_is_recorded(client, alice, inbox, link_of):
    link, _token, base = link_of()
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


def test_link_upload_is_invisible_through_the_api_and_other_links(alice_api, client, link_of):
    _link, _token, base = link_of()
    _other, _other_token, other_base = link_of()
    url = path_of(create(client, 10, base=base))
    upload_id = url.rsplit("/", 1)[1]
    assert head(alice_api, f"/api/v1/tus/{upload_id}").status_code == 404
    assert head(client, f"{other_base}{upload_id}").status_code == 404
    assert head(client, url).status_code == 200


def test_link_max_file_size_applies_to_the_declared_length(client, link_of):
    _link, _token, base = link_of(max_file_size=100)
    assert create(client, 101, base=base).status_code == 413
    assert create(client, 100, base=base).status_code == 201


def test_owner_quota_applies_without_telling_the_uploader_about_it(client, alice, link_of):
    alice.quota_bytes = 50
    alice.save()
    _link, _token, base = link_of()
    response = create(client, 51, base=base)
    assert response.status_code == 507
    assert response.json()["detail"] == "There is no room left for uploads on this link."


def test_max_files_counts_tus_uploads(client, link_of):
    _link, _token, base = link_of(max_files=1)
    assert create(client, 1, base=base, body=b"a").status_code == 201
    assert create(client, 1, base=base).status_code == 410


def test_revoked_link_stops_an_upload_in_progress(client, link_of):
    link, _token, base = link_of()
    url = path_of(create(client, 10, base=base))
    assert patch(client, url, 0, b"12345").status_code == 204
    upload_link_revoke(link=link)
    assert patch(client, url, 5, b"67890").status_code == 410
    assert head(client, url).status_code == 410


def test_expired_link_refuses_new_uploads(client, link_of):
    link, _token, base = link_of()
    UploadLink.objects.filter(pk=link.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    assert create(client, 10, base=base).status_code == 410


def test_password_protected_link_needs_the_unlock_cookie(client, link_of):
    _link, token, base = link_of(password="let me in")
    assert create(client, 10, base=base).status_code == 401
    client.post(f"/r/{token}", {"password": "let me in"})
    assert create(client, 10, base=base).status_code == 201


def test_link_options_and_missing_tus_resumable(client, link_of):
    _link, _token, base = link_of()
    assert client.options(base)["Tus-Version"] == "1.0.0"
    assert client.generic("POST", base, HTTP_UPLOAD_LENGTH="3").status_code == 412


def test_link_upload_can_be_terminated(client, link_of):
    _link, _token, base = link_of()
    url = path_of(create(client, 10, base=base, body=b"12345"))
    assert client.delete(url, **TUS).status_code == 204
    assert not TusUpload.objects.exists()


def test_uploads_started_together_cannot_exceed_max_files(client, link_of):
    _link, _token, base = link_of(max_files=1)
    first = path_of(create(client, 3, base=base, name="a.txt"))
    # The upload in progress takes the one file left: a second one is not even started.
    second = create(client, 3, base=base, name="b.txt")
    assert second.status_code == 429
    assert int(second["Retry-After"]) > 0
    assert patch(client, first, 0, b"one").status_code == 204
    assert create(client, 3, base=base, name="b.txt").status_code == 410
    assert list(File.objects.values_list("name", flat=True)) == ["a.txt"]
