"""An upload-link holder against the owner's quota, and what a link's uploader may learn.

Re-enacts the hardening issue (#11): ten tus creations of 1 GB without a body through a link
that accepts one file all succeeded and reserved the owner's quota for 24 hours, even after the
link was revoked, and the owner could neither see nor cancel them. Now the uploads in progress
on a link count as its files, are capped by its room (files left × largest file), end when the
link is revoked or they idle, and the owner lists and cancels them. A link's tus answers never
carry the id of the file stored in the owner's locker.
"""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from files.models import File, TusUpload, UploadReservation
from files.services import folder_create
from files.tasks import cleanup_partial_uploads
from sharing.models import UploadLink
from sharing.upload_links import upload_link_create, upload_link_revoke
from storage.models import Blob
from tests.fixtures.files import stored_keys, upload
from tests.fixtures.live_uploads import wait_until
from tests.fixtures.users import api_client_for
from tests.tus.helpers import create, head, patch, path_of

pytestmark = pytest.mark.django_db

GB = 1_000_000_000


@pytest.fixture
def inbox(alice):
    alice.quota_bytes = 10 * GB
    alice.save()
    return folder_create(user=alice, parent=None, name="Inbox")


def _owner_can_upload(alice_api) -> bool:
    response = upload(alice_api, "note.txt", b"k" * 1024)
    assert response.status_code in (201, 507), response.content
    return response.status_code == 201


def test_ten_bodiless_tus_creations_on_a_one_file_link_cannot_block_the_owners_quota(
    alice, alice_api, inbox
):
    _link, token = upload_link_create(owner=alice, folder=inbox, max_files=1)
    attacker = Client()
    statuses = [create(attacker, GB, base=f"/r/{token}/tus/").status_code for _ in range(10)]
    # The first upload takes the one file the link accepts; the other nine are refused.
    assert statuses == [201] + [429] * 9, statuses
    assert UploadReservation.objects.filter(owner=alice).count() == 1
    assert _owner_can_upload(alice_api)


def test_one_upload_cannot_reserve_more_than_the_link_allows(alice, alice_api, inbox):
    _link, token = upload_link_create(owner=alice, folder=inbox, max_files=2, max_file_size=GB)
    attacker = Client()
    base = f"/r/{token}/tus/"
    assert create(attacker, GB, base=base).status_code == 201
    assert create(attacker, GB, base=base).status_code == 201
    assert create(attacker, 1, base=base).status_code == 429  # both files left are in progress
    # A form upload announcing more than the link could ever take is refused before a byte.
    form = attacker.generic(
        "POST",
        f"/r/{token}/upload",
        b"",
        CONTENT_TYPE="multipart/form-data; boundary=x",
        CONTENT_LENGTH=str(3 * GB),
    )
    assert form.status_code == 413
    assert UploadReservation.objects.filter(owner=alice).count() == 2


def test_revoking_the_link_gives_the_reserved_quota_back_at_once(alice, alice_api, inbox):
    link, token = upload_link_create(owner=alice, folder=inbox)
    attacker = Client()
    urls = [path_of(create(attacker, 5 * GB, base=f"/r/{token}/tus/")) for _ in range(2)]
    patch(attacker, urls[0], 0, b"partial bytes")
    assert not _owner_can_upload(alice_api)
    before = stored_keys()

    upload_link_revoke(link=link)
    assert _owner_can_upload(alice_api)
    assert not TusUpload.objects.exists()
    assert not UploadReservation.objects.exists()
    assert Blob.objects.filter(state=Blob.State.WRITING).count() == 0
    assert len(stored_keys()) == len(before) - 2 + 1  # the two partial uploads went, the note came


def test_an_expired_link_stops_holding_the_owners_quota(alice, alice_api, inbox):
    link, token = upload_link_create(owner=alice, folder=inbox)
    create(Client(), 10 * GB, base=f"/r/{token}/tus/")
    assert not _owner_can_upload(alice_api)
    UploadLink.objects.filter(pk=link.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert _owner_can_upload(alice_api)  # at once, before any cleanup
    cleanup_partial_uploads()
    assert not TusUpload.objects.exists()
    assert not UploadReservation.objects.exists()
    assert not Blob.objects.filter(state=Blob.State.WRITING).exists()


def test_an_idle_link_upload_gives_the_quota_back(alice, alice_api, inbox, settings):
    settings.LOCKER_UPLOAD_LINK_IDLE = 1  # second
    _link, token = upload_link_create(owner=alice, folder=inbox)
    attacker = Client()
    url = path_of(create(attacker, 10 * GB - 100, base=f"/r/{token}/tus/"))
    assert not _owner_can_upload(alice_api)

    wait_until(lambda: _owner_can_upload(alice_api), timeout=30, what="the idle upload to lapse")
    assert patch(attacker, url, 0, b"late bytes").status_code == 410
    cleanup_partial_uploads()
    assert not TusUpload.objects.exists()
    assert not UploadReservation.objects.exists()


def test_the_owner_sees_and_cancels_uploads_in_progress_through_a_link(
    alice, alice_api, bob, inbox, django_assert_max_num_queries
):
    alice.quota_bytes = 9 * GB
    alice.save()
    link, token = upload_link_create(owner=alice, folder=inbox, label="CVs")
    attacker = Client()
    for name in ("one.pdf", "two.pdf", "three.pdf"):
        create(attacker, 3 * GB, base=f"/r/{token}/tus/", name=name)
    assert not _owner_can_upload(alice_api)

    # Authentication and the throttle take 7; the list 3, whatever the number of uploads.
    with django_assert_max_num_queries(10):
        listed = alice_api.get("/api/v1/uploads/", {"upload_link": str(link.public_id)})
    assert listed.status_code == 200
    rows = listed.json()["results"]
    assert [row["name"] for row in rows] == ["one.pdf", "two.pdf", "three.pdf"]
    assert {row["kind"] for row in rows} == {"tus"}
    assert {row["upload_link"] for row in rows} == {str(link.public_id)}
    assert rows[0]["size"] == 3 * GB and rows[0]["received"] == 0

    # Nobody else sees or cancels them.
    bob_api = api_client_for(bob)
    assert bob_api.get("/api/v1/uploads/").json()["results"] == []
    assert bob_api.delete(f"/api/v1/uploads/{rows[0]['id']}/").status_code == 404

    assert alice_api.delete(f"/api/v1/uploads/{rows[0]['id']}/").status_code == 204
    assert _owner_can_upload(alice_api)

    # The link's own page lists the others, and its Cancel button ends one.
    browser = Client()
    browser.force_login(alice)
    page = browser.get(f"/shares/uploads/{link.public_id}/").content.decode()
    assert "two.pdf" in page and "three.pdf" in page and "one.pdf" not in page
    cancelled = browser.post(f"/shares/uploads/{link.public_id}/in-progress/{rows[1]['id']}/cancel")
    assert cancelled.status_code == 302
    assert [r["name"] for r in alice_api.get("/api/v1/uploads/").json()["results"]] == ["three.pdf"]
    assert TusUpload.objects.count() == 1


def test_an_upload_link_holder_never_learns_the_owners_file_id(alice, alice_api, inbox):
    _link, token = upload_link_create(owner=alice, folder=inbox)
    attacker = Client()
    base = f"/r/{token}/tus/"
    whole = create(attacker, 5, base=base, name="a.txt", body=b"hello")  # completes at once
    assert whole.status_code == 201
    assert "Locker-File-Id" not in whole
    assert "Locker-File-Id" not in head(attacker, path_of(whole))
    url = path_of(create(attacker, 5, base=base, name="b.txt"))
    finished = patch(attacker, url, 0, b"world")
    assert finished.status_code == 204
    assert "Locker-File-Id" not in finished
    assert "Locker-File-Id" not in head(attacker, url)
    stored = {str(file.public_id) for file in File.objects.filter(owner=alice)}
    assert len(stored) == 2
    for response in (whole, finished, head(attacker, url)):
        assert not any(file_id in str(response.headers) for file_id in stored)
    # The owner's own tus uploads still say which file they became.
    mine = create(alice_api, 3, name="mine.txt", body=b"abc")
    assert mine["Locker-File-Id"] == str(File.objects.get(name="mine.txt").public_id)
