"""Another user's ids answer 404 on every action, and the answer says nothing about them."""

import pytest

from files import services
from tests.fixtures.files import make_file, make_folder, upload


@pytest.fixture
def alices_things(alice):
    folder = make_folder(alice, "secret-folder")
    file = make_file(alice, "secret-file.txt", b"top secret", folder=folder)
    trashed = make_file(alice, "trashed-secret.txt", b"gone")
    services.file_trash(file=trashed)
    return folder, file, trashed


def _assert_404_without_leak(response, *secrets):
    assert response.status_code == 404, (response.status_code, response.content)
    assert response.json() == {"code": "not_found", "detail": "Not found."}
    for secret in secrets:
        assert secret.encode() not in response.content


def test_foreign_file_answers_404_everywhere(bob_api, alices_things):
    _folder, file, _trashed = alices_things
    url = f"/api/v1/files/{file.public_id}/"
    _assert_404_without_leak(bob_api.get(url), "secret")
    _assert_404_without_leak(bob_api.patch(url, {"name": "mine"}, "json"), "secret")
    _assert_404_without_leak(bob_api.delete(url), "secret")
    _assert_404_without_leak(bob_api.get(f"{url}content"), "secret")
    response = bob_api.head(f"{url}content")
    assert response.status_code == 404
    _assert_404_without_leak(bob_api.get(f"{url}content", HTTP_RANGE="bytes=0-3"), "top")
    file.refresh_from_db()
    assert file.name == "secret-file.txt" and file.deleted_at is None


def test_foreign_folder_answers_404_everywhere(bob_api, alices_things):
    folder, _file, _trashed = alices_things
    url = f"/api/v1/folders/{folder.public_id}/"
    _assert_404_without_leak(bob_api.get(url), "secret")
    _assert_404_without_leak(bob_api.patch(url, {"name": "mine"}, "json"), "secret")
    _assert_404_without_leak(bob_api.delete(url), "secret")
    _assert_404_without_leak(bob_api.get(f"{url}download"), "secret")
    _assert_404_without_leak(bob_api.get(f"/api/v1/files/?folder={folder.public_id}"), "secret")
    _assert_404_without_leak(bob_api.get(f"/api/v1/folders/?parent={folder.public_id}"), "secret")
    folder.refresh_from_db()
    assert folder.name == "secret-folder" and folder.deleted_at is None


def test_foreign_trash_item_cannot_be_restored(bob_api, alices_things):
    _folder, _file, trashed = alices_things
    response = bob_api.post(f"/api/v1/trash/{trashed.public_id}/restore")
    _assert_404_without_leak(response, "trashed")
    trashed.refresh_from_db()
    assert trashed.deleted_at is not None
    assert bob_api.get("/api/v1/trash/").json()["results"] == []


def test_cannot_move_into_a_foreign_folder(bob, bob_api, alices_things):
    folder, _file, _trashed = alices_things
    own_folder = make_folder(bob, "bobs")
    own_file = make_file(bob, "bob.txt")
    response = bob_api.patch(
        f"/api/v1/folders/{own_folder.public_id}/", {"parent": str(folder.public_id)}, "json"
    )
    _assert_404_without_leak(response, "secret")
    response = bob_api.patch(
        f"/api/v1/files/{own_file.public_id}/", {"folder": str(folder.public_id)}, "json"
    )
    _assert_404_without_leak(response, "secret")
    response = bob_api.post(
        "/api/v1/folders/", {"name": "x", "parent": str(folder.public_id)}, format="json"
    )
    _assert_404_without_leak(response, "secret")
    assert not folder.children.exists()


def test_cannot_upload_into_a_foreign_folder(bob_api, alices_things, local_storage_settings):
    from tests.fixtures.files import stored_keys

    folder, _file, _trashed = alices_things
    before = stored_keys()
    _assert_404_without_leak(upload(bob_api, "x.txt", b"x", folder=folder.public_id), "secret")
    _assert_404_without_leak(
        upload(bob_api, "x.txt", b"x", query=f"?folder={folder.public_id}"), "secret"
    )
    assert stored_keys() == before
    assert folder.files.count() == 1


def test_trashed_file_is_404_for_its_owner_too(alice_api, alices_things):
    _folder, _file, trashed = alices_things
    assert alice_api.get(f"/api/v1/files/{trashed.public_id}/").status_code == 404
    assert alice_api.get(f"/api/v1/files/{trashed.public_id}/content").status_code == 404


def test_malformed_ids_answer_404(alice_api):
    assert alice_api.get("/api/v1/files/123/").status_code == 404
    assert alice_api.get("/api/v1/folders/../").status_code == 404
    assert alice_api.get("/api/v1/files/?folder=1").status_code == 400


def test_upload_with_a_foreign_folder_field_sent_first_stores_nothing(
    bob_api, alices_things, local_storage_settings
):
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.db.models.signals import post_save

    from storage.models import Blob
    from tests.fixtures.files import stored_keys

    folder, _file, _trashed = alices_things
    keys_before = stored_keys()
    created = []

    def count_blob(sender, instance, **kwargs):
        created.append(instance.pk)

    post_save.connect(count_blob, sender=Blob, weak=False)
    try:
        body = {
            "folder": str(folder.public_id),
            "file": SimpleUploadedFile("x.txt", b"x" * 5000),
        }
        response = bob_api.post("/api/v1/files/", body, format="multipart")
    finally:
        post_save.disconnect(count_blob, sender=Blob)
    _assert_404_without_leak(response, "secret")
    assert created == []  # refused before a single byte was stored
    assert stored_keys() == keys_before
