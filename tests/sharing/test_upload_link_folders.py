"""Folder uploads through an upload link (issue 16): a file sent with a relative `path` and the
page's `batch` token lands in that folder, below a new folder for the visit that the server
names, never in an existing folder of the owner; bad paths are refused with a sentence before
any byte is stored, and no request makes a folder without a file in it."""

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from files.models import File, Folder
from sharing.upload_links import upload_batch_token, upload_link_create
from storage.models import Blob
from tests.sharing.conftest import make_folder

pytestmark = pytest.mark.django_db


@pytest.fixture
def inbox(alice):
    return make_folder(alice, "Inbox")


def send(client, token, path, batch, name="a.txt", data=b"data"):
    fields = {}
    if batch is not None:
        fields["batch"] = batch
    if path is not None:
        fields["path"] = path
    fields["file"] = SimpleUploadedFile(name, data)  # after the fields, as the page sends it
    return client.post(f"/r/{token}/upload", fields)


def batch_of_page(client, token) -> str:
    body = client.get(f"/r/{token}").content.decode()
    return re.search(r'data-batch="([^"]+)"', body).group(1)


def folder_path(folder) -> list[str]:
    names = []
    while folder.parent_id is not None:
        names.append(folder.name)
        folder = folder.parent
    return names[::-1]


def test_a_tree_lands_in_one_new_folder_per_visit(client, alice, inbox):
    link, token = upload_link_create(owner=alice, folder=inbox, max_files=5)
    batch = batch_of_page(client, token)
    assert send(client, token, "Trip/Day 1", batch, "a.jpg").status_code == 201
    assert send(client, token, "Trip", batch, "b.jpg").status_code == 201
    response = send(client, token, "Trip/Day 1", batch, "c.jpg")
    assert response.status_code == 201
    assert response.json() == {"files": [{"name": "c.jpg", "size": 4}], "files_left": 2}
    (visit,) = Folder.objects.filter(parent=inbox)
    assert re.fullmatch(r"Upload \d{4}-\d\d-\d\d \d\d\.\d\d\.\d\d [0-9a-f]{4}", visit.name)
    a, b, c = (File.objects.get(name=n) for n in ("a.jpg", "b.jpg", "c.jpg"))
    assert folder_path(a.folder) == ["Inbox", visit.name, "Trip", "Day 1"]
    assert folder_path(b.folder) == ["Inbox", visit.name, "Trip"]
    assert c.folder == a.folder
    # Another visit gets another folder.
    assert send(client, token, "Trip", batch_of_page(client, token)).status_code == 201
    assert Folder.objects.filter(parent=inbox).count() == 2


def test_an_existing_folder_of_the_owner_is_never_written_into(client, alice, inbox):
    private = make_folder(alice, "Private", parent=inbox)
    _link, token = upload_link_create(owner=alice, folder=inbox)
    assert send(client, token, "Private", batch_of_page(client, token)).status_code == 201
    assert not File.objects.filter(folder=private).exists()
    stored = File.objects.get(name="a.txt")
    assert folder_path(stored.folder)[-1] == "Private"
    assert stored.folder != private


@pytest.mark.parametrize(
    "path",
    ["../Secret", "Trip/../../Secret", "/etc", "Trip//Day", "./Trip", "Trip/.."],
)
def test_a_path_that_leaves_its_folder_is_refused_before_any_byte(client, alice, inbox, path):
    _link, token = upload_link_create(owner=alice, folder=inbox)
    blobs = Blob.objects.count()
    response = send(client, token, path, batch_of_page(client, token))
    assert response.status_code == 400
    assert "relative to the target folder" in response.json()["detail"]
    assert Blob.objects.count() == blobs
    assert not File.objects.exists()
    assert not Folder.objects.filter(parent=inbox).exists()


def test_a_forged_or_foreign_batch_is_refused(client, alice, inbox):
    _link, token = upload_link_create(owner=alice, folder=inbox)
    other, _other_token = upload_link_create(owner=alice, folder=inbox)
    for batch in ("Inbox", "", upload_batch_token(link=other), None):
        response = send(client, token, "Trip", batch)
        assert response.status_code == 400
        assert response.json()["detail"] == (
            "This upload cannot be placed in a folder: reload the page and send the folder again."
        )
    assert not File.objects.exists()
    assert not Folder.objects.filter(parent=inbox).exists()


def test_a_depth_bomb_is_refused_with_a_sentence_and_makes_nothing(client, alice, inbox, settings):
    settings.LOCKER_MAX_FOLDER_DEPTH = 5
    _link, token = upload_link_create(owner=alice, folder=inbox)
    batch = batch_of_page(client, token)
    # Inbox is level 1, the visit's folder level 2: three more levels fit, four do not.
    assert send(client, token, "a/b/c", batch).status_code == 201
    response = send(client, token, "/".join(["x"] * 4), batch, "b.txt")
    assert response.status_code == 400
    assert response.json()["detail"] == (
        "Folders can be nested at most 5 levels deep; this would make 6 levels."
    )
    response = send(client, token, "/".join(["d"] * 5000), batch, "c.txt")
    assert response.status_code == 400
    assert not File.objects.filter(name__in=["b.txt", "c.txt"]).exists()
    assert not Folder.objects.filter(name__in=["x", "d"]).exists()


def test_no_folder_is_made_without_a_file_in_it(client, alice, inbox):
    link, token = upload_link_create(owner=alice, folder=inbox, max_files=1)
    batches = [batch_of_page(client, token) for _ in range(20)]  # visits alone make nothing
    assert not Folder.objects.filter(parent=inbox).exists()
    assert send(client, token, "One", batches[0]).status_code == 201
    folders = Folder.objects.count()
    for number, batch in enumerate(batches[1:]):  # the link is full: refused, nothing made
        response = send(client, token, f"Empty {number}/Deeper", batch, f"{number}.txt")
        assert response.status_code == 410
    assert Folder.objects.count() == folders


def test_queries_grow_by_a_constant_per_level(client, alice, inbox):
    _link, token = upload_link_create(owner=alice, folder=inbox)
    batch = batch_of_page(client, token)
    send(client, token, "warm", batch, "0.txt")  # the visit's folder exists from now on

    def queries(path, name):
        with CaptureQueriesContext(connection) as captured:
            assert send(client, token, path, batch, name).status_code == 201
        return len(captured)

    two, four, eight = (
        queries("a/b", "1.txt"),
        queries("c/d/e/f", "2.txt"),
        queries("g/h/i/j/k/l/m/n", "3.txt"),
    )
    assert four - two == (eight - four) // 2
    # Per new folder: look for a folder, then a file, of that name; insert it in a savepoint.
    assert four - two <= 2 * 5


def test_a_file_in_the_way_of_a_folder_is_a_409_and_nothing_is_kept(client, alice, inbox):
    link, token = upload_link_create(owner=alice, folder=inbox)
    batch = batch_of_page(client, token)
    assert send(client, token, "Trip", batch, "Day 1").status_code == 201  # a file "Day 1"
    blobs = Blob.objects.count()
    response = send(client, token, "Trip/Day 1", batch, "b.txt")
    assert response.status_code == 409
    assert response.json()["detail"] == "An item named “Day 1” already exists in this folder."
    assert Blob.objects.count() == blobs
    assert not File.objects.filter(name="b.txt").exists()
    link.refresh_from_db()
    assert link.files_count == 1  # the refused file was not counted


def test_bad_paths_in_the_query_string_cost_no_probe_of_the_link(client, alice, inbox):
    """The page sends `batch` and `path` in the query string, checked before any room is
    reserved: a visitor's folder with a bad name never spends the link's probe budget (ten
    refusals an hour, then 429 for everyone)."""

    _link, token = upload_link_create(owner=alice, folder=inbox)
    batch = batch_of_page(client, token)
    for _ in range(12):
        response = client.post(
            f"/r/{token}/upload?batch={batch}&path=../x",
            {"file": SimpleUploadedFile("a.txt", b"data")},
        )
        assert response.status_code == 400, response.content
    response = client.post(
        f"/r/{token}/upload?batch={batch}&path=Trip",
        {"file": SimpleUploadedFile("a.txt", b"data")},
    )
    assert response.status_code == 201, response.content
    assert folder_path(File.objects.get(name="a.txt").folder)[-1] == "Trip"
