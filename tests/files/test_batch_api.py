"""POST /api/v1/files/batch/: delete, move and ZIP several items at once, all or nothing, each
id checked as the caller's, capped, in a constant number of queries."""

import io
import zipfile

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import AuditEvent
from files import services
from files.models import File, Folder
from tests.fixtures.files import make_file, make_folder, make_folder_chain

URL = "/api/v1/files/batch/"


def _ids(items):
    return [str(item.public_id) for item in items]


def _zip(response) -> zipfile.ZipFile:
    data = b"".join(response.streaming_content)
    assert response["Content-Length"] == str(len(data))
    return zipfile.ZipFile(io.BytesIO(data))


def _alive(model, item) -> bool:
    return model.objects.get(pk=item.pk).deleted_at is None


def test_batch_delete_puts_each_item_in_the_trash_as_its_own_item(alice, alice_api):
    top = make_folder(alice, "top")
    inner = make_file(alice, "inner.txt", folder=make_folder(alice, "sub", top))
    a = make_file(alice, "a.txt")
    b = make_file(alice, "b.txt")
    keep = make_file(alice, "keep.txt")
    response = alice_api.post(
        URL, {"action": "delete", "files": _ids([a, b]), "folders": _ids([top])}
    )
    assert response.status_code == 200, response.json()
    assert response.json()["count"] == 3
    assert not _alive(File, a) and not _alive(File, b) and not _alive(File, inner)
    assert _alive(File, keep)
    trash = alice_api.get("/api/v1/trash/").json()["results"]
    assert sorted(item["name"] for item in trash) == ["a.txt", "b.txt", "top"]
    # The folder comes back whole, with what was in it.
    restored = alice_api.post(f"/api/v1/trash/{top.public_id}/restore")
    assert restored.status_code == 200
    assert _alive(File, inner)
    assert AuditEvent.objects.filter(action="file.deleted", actor=alice).count() == 3


def test_batch_move_moves_every_item_into_the_target(alice, alice_api):
    target = make_folder(alice, "target")
    sub = make_folder(alice, "sub")
    files = [make_file(alice, f"{n}.txt") for n in range(3)]
    response = alice_api.post(
        URL,
        {
            "action": "move",
            "files": _ids(files),
            "folders": _ids([sub]),
            "target": str(target.public_id),
        },
    )
    assert response.status_code == 200, response.json()
    assert {f.folder_id for f in File.objects.filter(pk__in=[f.pk for f in files])} == {target.pk}
    assert Folder.objects.get(pk=sub.pk).parent_id == target.pk


def test_batch_move_into_a_selected_folder_or_below_it_is_refused(alice, alice_api):
    top = make_folder(alice, "top")
    below = make_folder(alice, "below", top)
    loose = make_file(alice, "loose.txt")
    for target in (top, below):
        response = alice_api.post(
            URL,
            {
                "action": "move",
                "files": _ids([loose]),
                "folders": _ids([top]),
                "target": str(target.public_id),
            },
        )
        assert response.status_code == 400
        assert "into itself" in response.json()["detail"]
    # Nothing moved, not even the file that could have.
    assert File.objects.get(pk=loose.pk).folder.parent_id is None


def test_batch_move_into_the_folder_the_items_are_in_is_refused(alice, alice_api):
    here = make_folder(alice, "here")
    file = make_file(alice, "x.txt", folder=here)
    response = alice_api.post(
        URL, {"action": "move", "files": _ids([file]), "target": str(here.public_id)}
    )
    assert response.status_code == 400
    assert "already in this folder" in response.json()["detail"]


def test_batch_move_with_a_name_taken_in_the_target_moves_nothing(alice, alice_api):
    target = make_folder(alice, "target")
    make_file(alice, "Clash.txt", folder=target)
    free = make_file(alice, "free.txt")
    clash = make_file(alice, "clash.txt")
    response = alice_api.post(
        URL, {"action": "move", "files": _ids([free, clash]), "target": str(target.public_id)}
    )
    assert response.status_code == 409
    assert "clash.txt" in response.json()["detail"]
    assert File.objects.get(pk=free.pk).folder_id != target.pk


def test_batch_move_past_the_depth_cap_is_refused(alice, alice_api, settings):
    settings.LOCKER_MAX_FOLDER_DEPTH = 4
    deep = make_folder_chain(alice, 3)[-1]
    tree = make_folder_chain(alice, 2, name="tree")[0]
    response = alice_api.post(
        URL, {"action": "move", "folders": _ids([tree]), "target": str(deep.public_id)}
    )
    assert response.status_code == 400
    assert "at most 4 levels" in response.json()["detail"]
    assert Folder.objects.get(pk=tree.pk).parent.parent_id is None


def test_batch_zip_streams_the_selected_files_and_folder_trees(alice, alice_api):
    top = make_folder(alice, "Photos été")
    make_file(alice, "deep.bin", bytes(range(256)) * 100, folder=make_folder(alice, "2026", top))
    make_folder(alice, "empty", top)
    a = make_file(alice, "a.txt", b"alpha")
    make_file(alice, "not selected.txt", b"no")
    response = alice_api.post(URL, {"action": "zip", "files": _ids([a]), "folders": _ids([top])})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    archive = _zip(response)
    assert set(archive.namelist()) == {"a.txt", "Photos été/2026/deep.bin", "Photos été/empty/"}
    assert archive.read("a.txt") == b"alpha"
    assert archive.read("Photos été/2026/deep.bin") == bytes(range(256)) * 100


def test_batch_zip_accepts_a_browser_form_post(alice, alice_api):
    a = make_file(alice, "a.txt", b"alpha")
    b = make_file(alice, "b.txt", b"beta")
    response = alice_api.post(
        URL,
        f"action=zip&files={a.public_id}&files={b.public_id}",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200
    assert sorted(_zip(response).namelist()) == ["a.txt", "b.txt"]


@pytest.mark.parametrize("action", ["delete", "move", "zip"])
def test_one_id_of_another_user_makes_the_whole_batch_404(alice, bob, alice_api, action):
    mine = make_file(alice, "mine.txt")
    theirs = make_file(bob, "theirs.txt")
    body = {"action": action, "files": _ids([mine, theirs])}
    response = alice_api.post(URL, body)
    assert response.status_code == 404
    assert response.json()["detail"]
    assert _alive(File, mine) and _alive(File, theirs)
    assert File.objects.get(pk=theirs.pk).folder.owner_id == bob.pk


def test_another_users_folder_as_item_or_target_is_404(alice, bob, alice_api):
    mine = make_file(alice, "mine.txt")
    their_folder = make_folder(bob, "theirs")
    response = alice_api.post(URL, {"action": "delete", "folders": _ids([their_folder])})
    assert response.status_code == 404
    assert _alive(Folder, their_folder)
    response = alice_api.post(
        URL, {"action": "move", "files": _ids([mine]), "target": str(their_folder.public_id)}
    )
    assert response.status_code == 404
    assert File.objects.get(pk=mine.pk).folder.owner_id == alice.pk


def test_a_trashed_item_makes_the_batch_404(alice, alice_api):
    gone = make_file(alice, "gone.txt")
    services.file_trash(file=gone)
    live = make_file(alice, "live.txt")
    response = alice_api.post(URL, {"action": "delete", "files": _ids([live, gone])})
    assert response.status_code == 404
    assert _alive(File, live)


def test_a_batch_over_the_cap_answers_400_with_the_limit(alice, alice_api, settings):
    settings.LOCKER_BATCH_MAX_ITEMS = 3
    files = [make_file(alice, f"{n}.txt") for n in range(4)]
    response = alice_api.post(URL, {"action": "delete", "files": _ids(files)})
    assert response.status_code == 400
    assert "at most 3 files and folders" in response.json()["detail"]
    assert File.objects.alive().filter(owner=alice).count() == 4


def test_an_empty_batch_answers_400(alice_api):
    response = alice_api.post(URL, {"action": "delete"})
    assert response.status_code == 400
    assert "at least one" in response.json()["detail"]


def test_a_batch_needs_an_account(client, db):
    assert client.post(URL, {"action": "delete"}, content_type="application/json").status_code in (
        401,
        403,
    )


def _selection(alice, n: int, tag: str):
    files = [make_file(alice, f"{tag}-{i}.txt", b"x") for i in range(n // 2)]
    folders = []
    for i in range(n - n // 2):
        folder = make_folder(alice, f"{tag}-dir-{i}")
        make_file(alice, "inside.txt", b"y", folder=folder)
        folders.append(folder)
    return files, folders


def statements(captured) -> int:
    """The queries run, a bulk INSERT counted once: on SQLite Django splits one into batches of
    999 variables (its limit per statement), while PostgreSQL gets a single INSERT."""
    count, last_insert = 0, None
    for query in captured.captured_queries:
        sql = query["sql"]
        insert = sql.split("(", 1)[0] if sql.startswith("INSERT INTO") else None
        if insert is None or insert != last_insert:
            count += 1
        last_insert = insert
    return count


def _count_queries(alice_api, body) -> tuple[int, object]:
    with CaptureQueriesContext(connection) as captured:
        response = alice_api.post(URL, body)
        if response.get("Content-Type") == "application/zip":
            b"".join(response.streaming_content)
    return statements(captured), response


@pytest.mark.parametrize("action", ["delete", "move", "zip"])
def test_a_batch_costs_the_same_queries_for_5_and_100_items(alice, alice_api, action):
    target = make_folder(alice, "target")
    counts = []
    # A first request of the session warms what every request reads once (its user, settings).
    alice_api.post(URL, {"action": "zip", "files": _ids([make_file(alice, "warm.txt")])})
    for n, tag in ((5, "small"), (100, "big")):
        files, folders = _selection(alice, n, tag)
        body = {"action": action, "files": _ids(files), "folders": _ids(folders)}
        if action == "move":
            body["target"] = str(target.public_id)
        queries, response = _count_queries(alice_api, body)
        assert response.status_code == 200
        counts.append(queries)
    assert counts[0] == counts[1]


def test_folders_api_path_creates_missing_folders_and_reuses_existing(alice, alice_api):
    existing = make_folder(alice, "Photos")
    response = alice_api.post("/api/v1/folders/", {"path": "photos/2026/Summer"})
    assert response.status_code == 201, response.json()
    assert [p["name"] for p in response.json()["path"]] == ["Photos", "2026", "Summer"]
    assert response.json()["path"][0]["id"] == str(existing.public_id)
    again = alice_api.post("/api/v1/folders/", {"path": "Photos/2026/summer"})
    assert again.status_code == 200
    assert again.json()["id"] == response.json()["id"]


@pytest.mark.parametrize("path", ["../up", "a/../b", "/abs", "a//b", "a/./b", "a/\x00"])
def test_folders_api_path_refuses_escapes_and_bad_names(alice_api, path):
    response = alice_api.post("/api/v1/folders/", {"path": path})
    assert response.status_code == 400
    assert response.json()["detail"]
    assert not Folder.objects.filter(name__in=["up", "a", "b", "abs"]).exists()


def test_folders_api_path_past_the_depth_cap_creates_nothing(alice_api, settings):
    settings.LOCKER_MAX_FOLDER_DEPTH = 3
    response = alice_api.post("/api/v1/folders/", {"path": "a/b/c/d"})
    assert response.status_code == 400
    assert "at most 3 levels" in response.json()["detail"]
    assert not Folder.objects.filter(name="a").exists()


def test_folders_api_path_through_a_file_is_a_conflict(alice, alice_api):
    make_file(alice, "a")
    response = alice_api.post("/api/v1/folders/", {"path": "a/b"})
    assert response.status_code == 409


def test_upload_with_a_path_lands_in_the_recreated_tree(alice, alice_api):
    from tests.fixtures.files import upload

    response = upload(alice_api, "x.txt", b"one", path="Trip/day 1", on_conflict="rename")
    assert response.status_code == 201, response.json()
    again = upload(alice_api, "x.txt", b"two", path="trip/Day 1", on_conflict="rename")
    assert again.status_code == 201
    assert again.json()["name"] == "x (1).txt"
    assert again.json()["folder"] == response.json()["folder"]
    folder = Folder.objects.get(public_id=response.json()["folder"])
    assert folder.name == "day 1" and folder.parent.name == "Trip"
    assert Folder.objects.filter(owner=alice, name_key="trip").count() == 1


def test_upload_with_an_escaping_path_stores_nothing(alice, alice_api):
    from tests.fixtures.files import upload

    response = upload(alice_api, "x.txt", b"one", path="../x")
    assert response.status_code == 400
    assert not File.objects.filter(owner=alice).exists()


def test_a_cross_site_form_post_without_the_csrf_token_deletes_nothing(alice, db):
    from django.test import Client

    file = make_file(alice, "precious.txt")
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(alice)
    # What a hostile page's auto-submitted form sends with alice's session cookie.
    response = browser.post(
        URL,
        f"action=delete&files={file.public_id}",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    assert _alive(File, file)


def test_an_upload_with_a_path_refused_for_a_name_conflict_leaves_no_folder_behind(
    alice, alice_api
):
    """All or nothing: the folders a path names are made in the same transaction as the files,
    so a request refused afterwards (two parts with one name) leaves no empty tree."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    body = {
        "path": "newtree/sub",
        "file": [SimpleUploadedFile("a.txt", b"one"), SimpleUploadedFile("A.txt", b"two")],
    }
    response = alice_api.post("/api/v1/files/", body, format="multipart")
    assert response.status_code == 409, response.content
    assert not Folder.objects.filter(owner=alice, name_key="newtree").exists()
    assert not File.objects.filter(owner=alice).exists()


def test_a_full_batch_sent_as_the_pages_form_post_is_read_whole(alice, db, settings):
    """LOCKER_BATCH_MAX_ITEMS ids in a form post (as the Files page's ZIP button sends them)
    reach the batch's own checks: an id that is not alice's answers 404, not Django's
    "too many fields" 400."""
    import uuid

    from django.test import Client

    browser = Client()
    browser.force_login(alice)
    ids = "&".join(f"files={uuid.uuid4()}" for _ in range(settings.LOCKER_BATCH_MAX_ITEMS))
    response = browser.post(
        URL, f"action=zip&{ids}", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 404, response.content[:300]


def test_a_batch_delete_takes_the_whole_tree_made_under_a_higher_depth_cap(
    alice, alice_api, settings
):
    """LOCKER_MAX_FOLDER_DEPTH lowered after folders were made: deleting the top still puts
    everything below it in the trash, as deleting that one folder does."""
    chain = make_folder_chain(alice, 6)
    deepest = make_file(alice, "deep.txt", folder=chain[-1])
    settings.LOCKER_MAX_FOLDER_DEPTH = 3
    response = alice_api.post(
        URL, {"action": "delete", "folders": [str(chain[0].public_id)]}, format="json"
    )
    assert response.status_code == 200, response.content
    assert not _alive(Folder, chain[-1])
    assert not _alive(File, deepest)
