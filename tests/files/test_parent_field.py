"""A file's container is `parent`, as a folder's; `folder`, its former name, is still accepted
on input and returned on output for one release, and marked deprecated in the schema."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from files.models import File
from tests.fixtures.files import make_file, make_folder

pytestmark = pytest.mark.django_db


def test_a_file_answers_parent_and_its_deprecated_alias_folder(alice, alice_api):
    folder = make_folder(alice, "dir")
    file = make_file(alice, "a.txt", folder=folder)
    body = alice_api.get(f"/api/v1/files/{file.public_id}/").json()
    assert body["parent"] == body["folder"] == str(folder.public_id)
    root_file = make_file(alice, "b.txt")
    body = alice_api.get(f"/api/v1/files/{root_file.public_id}/").json()
    assert body["parent"] is None and body["folder"] is None


def test_patch_moves_a_file_with_parent_or_with_folder(alice, alice_api):
    first, second = make_folder(alice, "first"), make_folder(alice, "second")
    file = make_file(alice, "a.txt")
    moved = alice_api.patch(f"/api/v1/files/{file.public_id}/", {"parent": str(first.public_id)})
    assert moved.status_code == 200, moved.content
    assert File.objects.get(pk=file.pk).folder == first
    moved = alice_api.patch(f"/api/v1/files/{file.public_id}/", {"folder": str(second.public_id)})
    assert moved.status_code == 200, moved.content
    assert File.objects.get(pk=file.pk).folder == second
    to_root = alice_api.patch(f"/api/v1/files/{file.public_id}/", {"parent": None})
    assert to_root.status_code == 200
    assert to_root.json()["parent"] is None


def test_parent_wins_over_folder_when_both_are_given(alice, alice_api):
    first, second = make_folder(alice, "first"), make_folder(alice, "second")
    file = make_file(alice, "a.txt")
    body = {"parent": str(first.public_id), "folder": str(second.public_id)}
    assert alice_api.patch(f"/api/v1/files/{file.public_id}/", body).status_code == 200
    assert File.objects.get(pk=file.pk).folder == first


def test_upload_into_parent_by_field_or_query_and_by_the_old_folder_field(alice, alice_api):
    folder = make_folder(alice, "dir")
    for name, query, fields in (
        ("field.txt", "", {"parent": str(folder.public_id)}),
        ("query.txt", f"?parent={folder.public_id}", {}),
        ("old.txt", "", {"folder": str(folder.public_id)}),
    ):
        body = {**fields, "file": SimpleUploadedFile(name, b"x")}
        response = alice_api.post(f"/api/v1/files/{query}", body, format="multipart")
        assert response.status_code == 201, response.content
        assert response.json()["parent"] == str(folder.public_id), name


def test_a_foreign_parent_is_refused_before_the_upload_is_read(alice, bob, bob_api):
    folder = make_folder(alice, "dir")
    body = {"file": SimpleUploadedFile("x.txt", b"x")}
    response = bob_api.post(f"/api/v1/files/?parent={folder.public_id}", body, format="multipart")
    assert response.status_code == 404
    assert not File.objects.filter(name="x.txt").exists()


def test_list_by_parent_or_by_folder(alice, alice_api):
    folder = make_folder(alice, "dir")
    make_file(alice, "inside.txt", folder=folder)
    make_file(alice, "outside.txt")
    for name in ("parent", "folder"):
        body = alice_api.get(f"/api/v1/files/?{name}={folder.public_id}").json()
        assert [item["name"] for item in body["results"]] == ["inside.txt"], name
    body = alice_api.get("/api/v1/files/?parent=not-a-uuid").json()
    assert "parent" in body["errors"]


def test_the_schema_marks_folder_deprecated():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    components = schema["components"]["schemas"]
    for name in ("File", "PatchedFileUpdateRequest", "FileUploadRequest"):
        assert components[name]["properties"]["folder"].get("deprecated") is True, name
        assert "deprecated" not in components[name]["properties"]["parent"], name
    parameters = schema["paths"]["/api/v1/files/"]["get"]["parameters"]
    folder = next(p for p in parameters if p["name"] == "folder")
    assert folder["deprecated"] is True


def test_a_tus_upload_goes_into_parent_or_into_the_old_folder_metadata(alice, alice_api):
    from tests.tus.helpers import create

    for key in ("parent", "folder"):
        folder = make_folder(alice, f"by-{key}")
        response = create(
            alice_api, 3, name=f"{key}.txt", meta={key: str(folder.public_id)}, body=b"abc"
        )
        assert response.status_code == 201, response.content
        assert File.objects.get(owner=alice, name=f"{key}.txt").folder == folder
