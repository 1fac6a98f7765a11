import pytest

from files.models import Folder
from tests.fixtures.files import make_file, make_folder


def test_create_folder_in_root_and_get_its_path(alice_api):
    response = alice_api.post("/api/v1/folders/", {"name": "Photos"}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert body["name"] == "Photos"
    assert body["parent"] is None
    assert body["path"] == [{"id": body["id"], "name": "Photos"}]


def test_nested_folder_has_breadcrumbs(alice, alice_api):
    top = make_folder(alice, "top")
    mid = make_folder(alice, "mid", top)
    response = alice_api.post(
        "/api/v1/folders/", {"name": "leaf", "parent": str(mid.public_id)}, format="json"
    )
    assert response.status_code == 201
    leaf = response.json()
    assert leaf["parent"] == str(mid.public_id)
    detail = alice_api.get(f"/api/v1/folders/{leaf['id']}/").json()
    assert [crumb["name"] for crumb in detail["path"]] == ["top", "mid", "leaf"]


def test_list_folders_of_root_and_of_a_parent(alice, alice_api):
    top = make_folder(alice, "b-top")
    make_folder(alice, "A-top")
    make_folder(alice, "child", top)
    root_list = alice_api.get("/api/v1/folders/").json()
    assert [f["name"] for f in root_list["results"]] == ["A-top", "b-top"]
    child_list = alice_api.get(f"/api/v1/folders/?parent={top.public_id}").json()
    assert [f["name"] for f in child_list["results"]] == ["child"]


def test_duplicate_folder_name_answers_409(alice, alice_api):
    make_folder(alice, "Docs")
    response = alice_api.post("/api/v1/folders/", {"name": "Docs"}, format="json")
    assert response.status_code == 409
    assert "Docs" in response.json()["detail"]


def test_folder_names_are_unique_case_insensitively(alice, alice_api):
    make_folder(alice, "Straße")
    response = alice_api.post("/api/v1/folders/", {"name": "STRASSE"}, format="json")
    assert response.status_code == 409


def test_a_folder_cannot_take_the_name_of_a_file(alice, alice_api):
    make_file(alice, "report")
    response = alice_api.post("/api/v1/folders/", {"name": "REPORT"}, format="json")
    assert response.status_code == 409


def test_same_name_in_different_folders_is_fine(alice, alice_api):
    top = make_folder(alice, "top")
    make_folder(alice, "same")
    response = alice_api.post(
        "/api/v1/folders/", {"name": "same", "parent": str(top.public_id)}, format="json"
    )
    assert response.status_code == 201


def test_rename_folder(alice, alice_api):
    folder = make_folder(alice, "old")
    response = alice_api.patch(f"/api/v1/folders/{folder.public_id}/", {"name": "new"}, "json")
    assert response.status_code == 200
    assert response.json()["name"] == "new"


def test_rename_to_a_different_case_of_its_own_name(alice, alice_api):
    folder = make_folder(alice, "readme")
    response = alice_api.patch(f"/api/v1/folders/{folder.public_id}/", {"name": "README"}, "json")
    assert response.status_code == 200
    assert response.json()["name"] == "README"


def test_rename_onto_a_taken_name_answers_409(alice, alice_api):
    make_folder(alice, "taken")
    folder = make_folder(alice, "free")
    response = alice_api.patch(f"/api/v1/folders/{folder.public_id}/", {"name": "Taken"}, "json")
    assert response.status_code == 409


def test_move_folder_and_back_to_root(alice, alice_api):
    target = make_folder(alice, "target")
    folder = make_folder(alice, "mover")
    url = f"/api/v1/folders/{folder.public_id}/"
    response = alice_api.patch(url, {"parent": str(target.public_id)}, "json")
    assert response.status_code == 200
    assert response.json()["parent"] == str(target.public_id)
    response = alice_api.patch(url, {"parent": None}, "json")
    assert response.status_code == 200
    assert response.json()["parent"] is None


def test_move_and_rename_at_once(alice, alice_api):
    target = make_folder(alice, "target")
    make_folder(alice, "x", target)
    folder = make_folder(alice, "x")
    response = alice_api.patch(
        f"/api/v1/folders/{folder.public_id}/",
        {"parent": str(target.public_id), "name": "y"},
        "json",
    )
    assert response.status_code == 200
    assert response.json()["name"] == "y"


def test_move_into_a_folder_with_the_same_name_answers_409(alice, alice_api):
    target = make_folder(alice, "target")
    make_folder(alice, "dup", target)
    folder = make_folder(alice, "dup")
    response = alice_api.patch(
        f"/api/v1/folders/{folder.public_id}/", {"parent": str(target.public_id)}, "json"
    )
    assert response.status_code == 409


def test_move_into_itself_is_refused(alice, alice_api):
    folder = make_folder(alice, "loop")
    response = alice_api.patch(
        f"/api/v1/folders/{folder.public_id}/", {"parent": str(folder.public_id)}, "json"
    )
    assert response.status_code == 400
    assert "itself" in response.json()["detail"]


def test_move_into_own_descendant_is_refused(alice, alice_api):
    top = make_folder(alice, "top")
    deep = make_folder(alice, "deep", make_folder(alice, "mid", top))
    response = alice_api.patch(
        f"/api/v1/folders/{top.public_id}/", {"parent": str(deep.public_id)}, "json"
    )
    assert response.status_code == 400
    top.refresh_from_db()
    assert top.parent.parent_id is None


def test_root_is_created_once_per_user(alice, alice_api):
    alice_api.get("/api/v1/folders/")
    alice_api.get("/api/v1/files/")
    assert Folder.objects.filter(owner=alice, parent__isnull=True).count() == 1


def test_bad_parent_id_answers_400(alice_api):
    response = alice_api.post("/api/v1/folders/", {"name": "x", "parent": "nope"}, format="json")
    assert response.status_code == 400


def test_anonymous_requests_are_refused(anon_api, alice):
    folder = make_folder(alice, "private")
    assert anon_api.get("/api/v1/folders/").status_code in (401, 403)
    assert anon_api.get(f"/api/v1/folders/{folder.public_id}/").status_code in (401, 403)


@pytest.mark.django_db(transaction=True)
def test_root_folder_is_created_once_by_racing_requests(alice):
    import threading

    from django.db import connection

    from files.selectors import folder_get_root

    barrier = threading.Barrier(4)
    roots = []

    def get_root():
        try:
            barrier.wait()
            roots.append(folder_get_root(alice).pk)
        finally:
            connection.close()

    threads = [threading.Thread(target=get_root) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(roots) == 4 and len(set(roots)) == 1
    assert Folder.objects.filter(owner=alice, parent__isnull=True).count() == 1
