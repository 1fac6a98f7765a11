"""A move to where the item already is, or of a folder into itself or below itself, is refused
with a sentence instead of reported as done (issue 16, defect 9)."""

import pytest

from files.models import File, Folder
from tests.fixtures.users import api_client_for

pytestmark = pytest.mark.django_db


def make_folder(client, name, parent=None) -> str:
    response = client.post("/api/v1/folders/", {"name": name, "parent": parent}, format="json")
    assert response.status_code == 201, response.content
    return response.json()["id"]


def upload(client, name, folder=None) -> str:
    from django.core.files.uploadedfile import SimpleUploadedFile

    payload = {"file": SimpleUploadedFile(name, b"x")}
    if folder:
        payload["folder"] = folder
    response = client.post("/api/v1/files/", payload, format="multipart")
    assert response.status_code == 201, response.content
    return response.json()["id"]


def refusal(response) -> str:
    assert response.status_code == 400, response.content
    return response.json()["detail"]  # the sentence every API error carries


def test_moving_a_file_into_its_own_folder_is_refused(alice):
    client = api_client_for(alice)
    folder = make_folder(client, "Invoices")
    file_id = upload(client, "march.pdf", folder)
    before = File.objects.get(public_id=file_id).modified_at
    response = client.patch(f"/api/v1/files/{file_id}/", {"folder": folder}, format="json")
    assert "“march.pdf” is already in this folder" in refusal(response)
    assert File.objects.get(public_id=file_id).modified_at == before


def test_moving_a_file_to_the_root_it_is_in_is_refused(alice):
    client = api_client_for(alice)
    file_id = upload(client, "top.txt")
    response = client.patch(f"/api/v1/files/{file_id}/", {"folder": None}, format="json")
    assert "already in this folder" in refusal(response)


def test_renaming_with_the_same_folder_given_still_renames(alice):
    client = api_client_for(alice)
    folder = make_folder(client, "Invoices")
    file_id = upload(client, "march.pdf", folder)
    response = client.patch(
        f"/api/v1/files/{file_id}/", {"folder": folder, "name": "april.pdf"}, format="json"
    )
    assert response.status_code == 200 and response.json()["name"] == "april.pdf"


def test_moving_a_folder_into_its_own_parent_is_refused(alice):
    client = api_client_for(alice)
    parent = make_folder(client, "Projects")
    child = make_folder(client, "Website", parent)
    response = client.patch(f"/api/v1/folders/{child}/", {"parent": parent}, format="json")
    assert "“Website” is already in this folder" in refusal(response)
    top = make_folder(client, "Top")
    response = client.patch(f"/api/v1/folders/{top}/", {"parent": None}, format="json")
    assert "already in this folder" in refusal(response)


def test_moving_a_folder_into_itself_or_a_descendant_is_refused(alice):
    client = api_client_for(alice)
    top = make_folder(client, "Projects")
    child = make_folder(client, "Website", top)
    grandchild = make_folder(client, "Assets", child)
    for target in (top, child, grandchild):
        response = client.patch(f"/api/v1/folders/{top}/", {"parent": target}, format="json")
        assert "cannot be moved into itself or one of its subfolders" in refusal(response)
    assert Folder.objects.get(public_id=top).parent.parent is None  # still at the top
