"""A full disk under the objects directory: a real 16 MiB tmpfs that an upload overflows.

Every upload route answers 507 with a sentence, and keeps nothing: no object or partial file,
no Blob or File row, no quota used or reserved; the space the failed upload took is free again.
"""

import os

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from files.models import File, TusUpload, UploadReservation
from sharing.upload_links import upload_link_create
from storage.models import Blob
from tests.fixtures.files import make_folder, upload
from tests.fixtures.smallfs import SMALL_SIZE, free_bytes
from tests.tus.helpers import OCTETS, TUS, create, head, path_of

pytestmark = pytest.mark.django_db

TOO_BIG = SMALL_SIZE + 4 * 1024 * 1024


def files_in(directory) -> list[str]:
    return sorted(
        os.path.relpath(os.path.join(root, name), directory)
        for root, _dirs, names in os.walk(directory)
        for name in names
    )


def assert_nothing_kept(user, directory, free_before: int) -> None:
    assert files_in(directory) == []
    assert not Blob.objects.exists()
    assert not File.objects.exists()
    assert not UploadReservation.objects.exists()
    user.refresh_from_db()
    assert user.used_bytes == 0
    assert free_bytes(directory) == free_before


def test_api_upload_on_a_full_disk_answers_507_and_keeps_nothing(
    alice, alice_api, small_local_storage
):
    free_before = free_bytes(small_local_storage)
    response = upload(alice_api, "big.bin", os.urandom(TOO_BIG))
    assert response.status_code == 507, response.content
    assert "disk is full" in response.json()["detail"]
    assert response.json()["code"] == "disk_full"
    assert_nothing_kept(alice, small_local_storage, free_before)
    # The space and the quota are back: a file that fits is stored.
    assert upload(alice_api, "small.bin", os.urandom(1024 * 1024)).status_code == 201


def test_upload_link_on_a_full_disk_answers_507_json_and_keeps_nothing(
    client, alice, small_local_storage
):
    link, token = upload_link_create(owner=alice, folder=make_folder(alice, "Inbox"))
    free_before = free_bytes(small_local_storage)
    response = client.post(
        f"/r/{token}/upload", {"file": [SimpleUploadedFile("big.bin", os.urandom(TOO_BIG))]}
    )
    assert response.status_code == 507, response.content
    assert "disk is full" in response.json()["detail"]
    assert response.json()["code"] == "disk_full"
    assert response["Referrer-Policy"] == "no-referrer"
    assert_nothing_kept(alice, small_local_storage, free_before)
    link.refresh_from_db()
    assert link.files_count == 0


def test_tus_patch_on_a_full_disk_answers_507_and_gives_the_space_back(
    alice, alice_api, small_local_storage
):
    created = create(alice_api, TOO_BIG, name="big.bin")
    assert created.status_code == 201, created.content
    url = path_of(created)
    free_before = free_bytes(small_local_storage)
    (partial,) = files_in(small_local_storage)  # the object's header, committed at creation
    size_before = os.path.getsize(small_local_storage / partial)

    response = alice_api.generic(
        "PATCH",
        url,
        data=os.urandom(TOO_BIG),
        content_type=OCTETS,
        HTTP_UPLOAD_OFFSET="0",
        **TUS,
    )
    assert response.status_code == 507, response.content
    assert "disk is full" in response.json()["detail"]
    assert response.json()["code"] == "disk_full"
    assert response["Tus-Resumable"] == "1.0.0"
    # The upload stands where it stood (it can resume once there is room); the bytes of the
    # failed chunk are gone from the disk now, not at the next request.
    assert head(alice_api, url)["Upload-Offset"] == "0"
    assert files_in(small_local_storage) == [partial]
    assert os.path.getsize(small_local_storage / partial) == size_before
    assert free_bytes(small_local_storage) == free_before
    assert not File.objects.exists()
    alice.refresh_from_db()
    assert alice.used_bytes == 0
    # Terminating it still works and leaves nothing.
    assert alice_api.delete(url, **TUS).status_code == 204
    assert files_in(small_local_storage) == []
    assert not TusUpload.objects.exists()
    assert not Blob.objects.exists()
    assert not UploadReservation.objects.exists()
