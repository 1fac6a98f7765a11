"""Every API path ends with `/`; one without it is served as with it, whatever the method (never
a 301 that a client would follow with a GET); an id that is not a UUID answers 404 as JSON."""

import pytest

from files.models import File, Folder
from sharing.services import share_create
from tests.fixtures.files import make_file, make_folder

pytestmark = pytest.mark.django_db


def test_a_post_without_the_final_slash_is_served_not_redirected(alice, alice_api):
    response = alice_api.post("/api/v1/folders", {"name": "Taxes"}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["name"] == "Taxes"
    assert Folder.objects.filter(owner=alice, name="Taxes").exists()


def test_a_patch_and_a_delete_without_the_final_slash_are_served(alice, alice_api):
    file = make_file(alice, "old.txt")
    renamed = alice_api.patch(f"/api/v1/files/{file.public_id}", {"name": "new.txt"})
    assert renamed.status_code == 200, renamed.content
    assert renamed.json()["name"] == "new.txt"
    deleted = alice_api.delete(f"/api/v1/files/{file.public_id}")
    assert deleted.status_code == 204
    assert File.objects.get(pk=file.pk).deleted_at is not None


def test_a_multipart_upload_without_the_final_slash_is_served(alice, alice_api):
    response = alice_api.post(
        "/api/v1/files", {"file": upload_part("a.txt", b"abc")}, format="multipart"
    )
    assert response.status_code == 201, response.content
    assert response.json()["name"] == "a.txt"


def upload_part(name: str, data: bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data)


def test_action_paths_end_with_a_slash_and_the_old_spellings_still_answer(alice, alice_api):
    file = make_file(alice, "notes.txt", b"hello\n")
    for path in (
        f"/api/v1/files/{file.public_id}/content/",
        f"/api/v1/files/{file.public_id}/content",
    ):
        response = alice_api.get(path)
        assert response.status_code == 200, path
        assert b"".join(response.streaming_content) == b"hello\n"
    folder = make_folder(alice, "dir")
    for path in (
        f"/api/v1/folders/{folder.public_id}/download/",
        f"/api/v1/folders/{folder.public_id}/download",
    ):
        assert alice_api.get(path)["Content-Type"] == "application/zip", path


def test_a_restore_without_the_final_slash_is_served(alice, alice_api):
    file = make_file(alice, "gone.txt")
    alice_api.delete(f"/api/v1/files/{file.public_id}/")
    response = alice_api.post(f"/api/v1/trash/{file.public_id}/restore")
    assert response.status_code == 200, response.content
    assert File.objects.get(pk=file.pk).deleted_at is None


def test_a_slashless_path_keeps_the_access_check(alice, bob_api, anon_api):
    file = make_file(alice, "secret.txt")
    assert anon_api.delete(f"/api/v1/files/{file.public_id}").status_code == 401
    assert bob_api.delete(f"/api/v1/files/{file.public_id}").status_code == 404
    assert bob_api.get(f"/api/v1/files/{file.public_id}/content").status_code == 404
    assert File.objects.get(pk=file.pk).deleted_at is None


def test_a_slashless_path_keeps_the_csrf_check_of_a_session(alice, client):
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(alice)
    response = browser.post("/api/v1/folders", {"name": "x"}, content_type="application/json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    assert not Folder.objects.filter(owner=alice, name="x").exists()


def test_an_unknown_path_without_a_slash_answers_404_json(alice_api):
    response = alice_api.post("/api/v1/nothing-here", {}, format="json")
    assert response.status_code == 404
    assert response.json()["detail"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/files/not-a-uuid/",
        "/api/v1/files/not-a-uuid/content/",
        "/api/v1/files/not-a-uuid",
        "/api/v1/folders/12345/",
        "/api/v1/shares/not-a-uuid/",
        "/api/v1/shares/------------------------------------/",
        "/api/v1/upload-links/zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz/",
        "/api/v1/trash/nope/restore/",
        "/api/v1/tokens/abc/",
    ],
)
def test_an_id_that_is_not_a_uuid_answers_404_with_the_error_shape(alice_api, path):
    for method in ("get", "patch", "delete"):
        response = getattr(alice_api, method)(path)
        assert response.status_code == 404, (method, path, response.status_code)
        assert response["Content-Type"].startswith("application/json")
        assert isinstance(response.json()["detail"], str)


def test_a_share_id_in_any_case_and_without_dashes_still_answers(alice, alice_api):
    file = make_file(alice, "a.txt")
    share, _token = share_create(owner=alice, file=file)
    for spelling in (str(share.public_id).upper(), share.public_id.hex):
        assert alice_api.get(f"/api/v1/shares/{spelling}/").status_code == 200, spelling


def test_the_schema_documents_every_api_path_with_a_final_slash():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    tus_upload = "/api/v1/tus/{upload_id}"  # the tus protocol: the URL is the Location given
    # The public link routes (/s/…, /r/…) are the web's addresses, not the API's.
    paths = [path for path in schema["paths"] if path.startswith("/api/") and path != tus_upload]
    assert len(paths) > 30
    assert [path for path in paths if not path.endswith("/")] == []
