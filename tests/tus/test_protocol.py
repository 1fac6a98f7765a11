"""tus 1.0.0 on /api/v1/tus/: the protocol's answers, good and bad, through the test client."""

import hashlib
import os
from datetime import timedelta

import pytest
from django.utils import timezone

from files import tus
from files.models import File, TusUpload, UploadReservation
from storage import crypto
from storage.models import Blob
from tests.fixtures.files import make_folder
from tests.tus.helpers import TUS, checksum, create, head, metadata, patch, path_of, stored_bytes

pytestmark = pytest.mark.django_db

SEGMENT = crypto.DEFAULT_SEGMENT_SIZE  # chunks that start and end around segment boundaries


def test_options_advertises_exactly_what_is_implemented(alice_api, settings):
    settings.LOCKER_MAX_UPLOAD_SIZE = 5 * 1024**3
    response = alice_api.options("/api/v1/tus/")
    assert response.status_code == 204
    assert response["Tus-Version"] == "1.0.0"
    assert response["Tus-Extension"] == (
        "creation,creation-with-upload,termination,checksum,expiration"
    )
    assert set(response["Tus-Checksum-Algorithm"].split(",")) == {"sha1", "sha256", "md5"}
    assert response["Tus-Max-Size"] == str(5 * 1024**3)


def test_chunks_at_odd_offsets_become_a_file_with_the_right_content(alice, alice_api, settings):
    # Storage must take chunks of any size; the floor on chunk sizes is tested on its own
    # (tests/security/test_tus_upload_attacks.py), so it is off here.
    settings.LOCKER_TUS_MIN_CHUNK = 0
    data = os.urandom(3 * SEGMENT + 12345)
    response = create(alice_api, len(data), name="odd.bin")
    assert response.status_code == 201, response.content
    url = path_of(response)
    assert response["Upload-Offset"] == "0"
    assert "Upload-Expires" in response
    offset = 0
    for size in (1, SEGMENT - 1, 7, SEGMENT * 2, len(data)):
        chunk = data[offset : offset + size]
        if not chunk:
            break
        answer = patch(alice_api, url, offset, chunk)
        assert answer.status_code == 204, answer.content
        offset += len(chunk)
        assert answer["Upload-Offset"] == str(offset)
    file = File.objects.get(owner=alice)
    assert answer["Locker-File-Id"] == str(file.public_id)
    assert head(alice_api, url)["Locker-File-Id"] == str(file.public_id)
    assert file.name == "odd.bin"
    assert file.size == len(data)
    assert file.sha256 == hashlib.sha256(data).hexdigest()
    assert stored_bytes(file) == data
    alice.refresh_from_db()
    assert alice.used_bytes == len(data)
    assert not UploadReservation.objects.exists()


def test_creation_with_upload_and_a_segment_aligned_length(alice, alice_api):
    data = os.urandom(2 * SEGMENT)
    response = create(alice_api, len(data), body=data)
    assert response.status_code == 201
    assert response["Upload-Offset"] == str(len(data))
    file = File.objects.get(owner=alice)
    assert response["Locker-File-Id"] == str(file.public_id)
    assert stored_bytes(file) == data


def test_empty_file_is_complete_at_creation(alice, alice_api):
    response = create(alice_api, 0, name="empty.txt")
    assert response.status_code == 201
    file = File.objects.get(owner=alice)
    assert file.size == 0
    assert stored_bytes(file) == b""


def test_partial_data_is_encrypted_in_storage_and_in_the_row(alice_api):
    marker = b"PLAINTEXT-MARKER-" * 1000
    data = marker * 20  # more than one segment, ends mid-segment
    url = path_of(create(alice_api, len(data) + 10))
    assert patch(alice_api, url, 0, data).status_code == 204
    upload = TusUpload.objects.get()
    assert upload.offset == len(data)
    assert b"PLAINTEXT-MARKER" not in bytes(upload.tail)
    assert len(bytes(upload.tail)) > 0
    from storage.backends import get_blobstore

    store = get_blobstore()
    with open(store.path(upload.blob.storage_key) + ".partial", "rb") as fh:
        stored = fh.read()
    assert b"PLAINTEXT-MARKER" not in stored


def test_upload_goes_into_the_folder_named_in_metadata(alice, alice_api):
    folder = make_folder(alice, "Inbox")
    response = create(alice_api, 3, meta={"folder": str(folder.public_id)}, body=b"abc")
    assert response.status_code == 201
    assert File.objects.get(owner=alice).folder == folder


def test_foreign_folder_answers_404(alice_api, bob):
    folder = make_folder(bob, "Bob's")
    response = create(alice_api, 3, meta={"folder": str(folder.public_id)})
    assert response.status_code == 404
    assert not TusUpload.objects.exists()


def test_name_conflict_renames_like_other_uploads(alice, alice_api):
    create(alice_api, 3, name="a.txt", body=b"one")
    create(alice_api, 3, name="a.txt", body=b"two")
    assert sorted(File.objects.values_list("name", flat=True)) == ["a (1).txt", "a.txt"]


def test_invalid_file_name_answers_400(alice_api):
    response = create(alice_api, 3, name="a/b")
    assert response.status_code == 400
    assert response.json()["detail"]


def test_wrong_offset_answers_409(alice_api):
    url = path_of(create(alice_api, 10))
    patch(alice_api, url, 0, b"12345")
    response = patch(alice_api, url, 3, b"45678")
    assert response.status_code == 409
    assert response["Upload-Offset"] == "5"
    assert head(alice_api, url)["Upload-Offset"] == "5"


def test_wrong_checksum_answers_460_and_discards_only_that_chunk(alice, alice_api):
    data = os.urandom(SEGMENT + 100)
    url = path_of(create(alice_api, len(data)))
    first, second = data[: SEGMENT + 10], data[SEGMENT + 10 :]
    ok = patch(alice_api, url, 0, first, HTTP_UPLOAD_CHECKSUM=checksum("sha1", first))
    assert ok.status_code == 204
    bad = patch(alice_api, url, len(first), second, HTTP_UPLOAD_CHECKSUM=checksum("sha256", b"x"))
    assert bad.status_code == 460
    assert head(alice_api, url)["Upload-Offset"] == str(len(first))
    good = patch(
        alice_api, url, len(first), second, HTTP_UPLOAD_CHECKSUM=checksum("sha256", second)
    )
    assert good.status_code == 204
    assert stored_bytes(File.objects.get(owner=alice)) == data


def test_unknown_checksum_algorithm_answers_400(alice_api):
    url = path_of(create(alice_api, 3))
    response = patch(alice_api, url, 0, b"abc", HTTP_UPLOAD_CHECKSUM="crc32 AAAA")
    assert response.status_code == 400


def test_missing_tus_resumable_answers_412(alice_api):
    response = alice_api.generic("POST", "/api/v1/tus/", HTTP_UPLOAD_LENGTH="3")
    assert response.status_code == 412
    assert response["Tus-Version"] == "1.0.0"
    url = path_of(create(alice_api, 3))
    assert alice_api.head(url).status_code == 412
    assert alice_api.head(url, HTTP_TUS_RESUMABLE="0.2.2").status_code == 412


def test_unknown_upload_id_answers_404(alice_api):
    assert head(alice_api, "/api/v1/tus/nosuchupload").status_code == 404
    assert patch(alice_api, "/api/v1/tus/nosuchupload", 0, b"x").status_code == 404


def test_another_users_upload_id_answers_404(alice_api, bob_api):
    url = path_of(create(alice_api, 10))
    assert head(bob_api, url).status_code == 404
    assert patch(bob_api, url, 0, b"x").status_code == 404
    assert bob_api.delete(url, **TUS).status_code == 404
    assert head(alice_api, url).status_code == 200


def test_upload_ids_are_long_and_random(alice_api):
    ids = {path_of(create(alice_api, 10)).rsplit("/", 1)[1] for _ in range(3)}
    assert len(ids) == 3
    assert all(len(upload_id) >= 40 for upload_id in ids)


def test_unauthenticated_request_answers_401(anon_api):
    assert create(anon_api, 10).status_code == 401


def test_over_quota_declared_length_answers_507(alice, alice_api):
    alice.quota_bytes = 1000
    alice.save()
    response = create(alice_api, 1001)
    assert response.status_code == 507
    assert "space" in response.json()["detail"]
    assert not TusUpload.objects.exists()


def test_parallel_uploads_cannot_together_overrun_the_quota(alice, alice_api):
    alice.quota_bytes = 1000
    alice.save()
    assert create(alice_api, 600).status_code == 201
    assert create(alice_api, 600).status_code == 507


def test_larger_than_max_upload_size_answers_413(alice_api, settings):
    settings.LOCKER_MAX_UPLOAD_SIZE = 100
    assert create(alice_api, 101).status_code == 413


def test_chunk_beyond_declared_length_answers_413(alice_api):
    url = path_of(create(alice_api, 3))
    assert patch(alice_api, url, 0, b"abcd").status_code == 413


def test_finished_upload_accepts_no_more_bytes(alice, alice_api):
    url = path_of(create(alice_api, 3, body=b"abc"))
    file = File.objects.get(owner=alice)
    response = patch(alice_api, url, 3, b"more")
    assert response.status_code in (403, 413)
    assert patch(alice_api, url, 0, b"xyz").status_code in (403, 409)
    assert stored_bytes(file) == b"abc"


def test_wrong_content_type_answers_415(alice_api):
    url = path_of(create(alice_api, 3))
    response = alice_api.generic(
        "PATCH", url, data=b"abc", content_type="text/plain", HTTP_UPLOAD_OFFSET="0", **TUS
    )
    assert response.status_code == 415


def test_termination_reclaims_bytes_and_quota(alice, alice_api):
    alice.quota_bytes = 1000
    alice.save()
    url = path_of(create(alice_api, 1000))
    patch(alice_api, url, 0, b"x" * 500)
    blob_key = TusUpload.objects.get().blob.storage_key
    response = alice_api.delete(url, **TUS)
    assert response.status_code == 204
    assert not TusUpload.objects.exists()
    assert not Blob.objects.filter(storage_key=blob_key).exists()
    from storage.backends import get_blobstore

    assert not os.path.exists(get_blobstore().path(blob_key) + ".partial")
    assert head(alice_api, url).status_code == 404
    assert create(alice_api, 1000).status_code == 201


def test_expired_upload_answers_410_and_cleanup_reclaims_it(alice_api):
    url = path_of(create(alice_api, 10))
    patch(alice_api, url, 0, b"12345")
    upload = TusUpload.objects.get()
    blob_key = upload.blob.storage_key
    TusUpload.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert head(alice_api, url).status_code == 410
    assert patch(alice_api, url, 5, b"67890").status_code == 410
    from files.tasks import cleanup_partial_uploads

    cleanup_partial_uploads()
    assert not TusUpload.objects.exists()
    assert not Blob.objects.filter(storage_key=blob_key).exists()
    assert not UploadReservation.objects.exists()
    assert head(alice_api, url).status_code == 404


def test_upload_metadata_must_be_base64(alice_api):
    response = alice_api.generic(
        "POST", "/api/v1/tus/", HTTP_UPLOAD_LENGTH="3", HTTP_UPLOAD_METADATA="filename !!!", **TUS
    )
    assert response.status_code == 400


def test_missing_upload_length_answers_400(alice_api):
    response = alice_api.generic(
        "POST", "/api/v1/tus/", HTTP_UPLOAD_METADATA=metadata(filename="a"), **TUS
    )
    assert response.status_code == 400


def test_session_upload_needs_the_csrf_token(alice):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    refused = create(client, 3, body=b"abc")
    assert refused.status_code == 403
    client.get("/")
    token = client.cookies["csrftoken"].value
    accepted = create(client, 3, body=b"abc", HTTP_X_CSRFTOKEN=token)
    assert accepted.status_code == 201, accepted.content


def test_lock_refuses_a_concurrent_writer(alice_api):
    url = path_of(create(alice_api, 10))
    TusUpload.objects.update(
        lock_token="x" * 32, locked_until=timezone.now() + timedelta(minutes=1)
    )
    assert patch(alice_api, url, 0, b"1").status_code == 423
    TusUpload.objects.update(locked_until=timezone.now() - timedelta(minutes=1))
    assert patch(alice_api, url, 0, b"1").status_code == 204


def test_protocol_module_names_its_version():
    assert tus.TUS_VERSION == "1.0.0"


def test_folder_deleted_during_the_upload_leaves_nothing_behind(alice, alice_api):
    from files.services import folder_trash

    folder = make_folder(alice, "Inbox")
    url = path_of(create(alice_api, 6, meta={"folder": str(folder.public_id)}))
    assert patch(alice_api, url, 0, b"abc").status_code == 204
    folder_trash(folder=folder)
    response = patch(alice_api, url, 3, b"def")
    assert response.status_code == 409
    assert "deleted" in response.json()["detail"]
    assert not File.objects.exists()
    assert not Blob.objects.exists()
    assert not UploadReservation.objects.exists()
    assert head(alice_api, url).status_code == 404


def test_cleanup_reclaims_expired_uploads_a_batch_at_a_time_within_its_budget(alice_api, settings):
    settings.LOCKER_JOB_BATCH_SIZE = 2
    settings.LOCKER_JOB_TIME_BUDGET = 0  # one batch a run
    for _ in range(5):
        create(alice_api, 10)
    TusUpload.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    runs = []
    while reclaimed := tus.cleanup_expired():
        runs.append(reclaimed)
    assert runs == [2, 2, 1]
    assert not TusUpload.objects.exists()
    assert not UploadReservation.objects.exists()
