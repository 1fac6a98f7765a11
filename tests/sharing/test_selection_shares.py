"""Selection shares: one link over several items of one folder, created through
POST /api/v1/shares/ with `files` and `folders`; the link shows only them, where they are."""

import io
import re
import zipfile

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from files.models import Folder
from files.services import file_update
from sharing.models import ShareLink
from sharing.tokens import opaque_id
from tests.files.test_batch_api import statements
from tests.sharing.conftest import make_folder, store_file


@pytest.fixture
def desk(alice):
    desk = make_folder(alice, "Desk")
    photos = make_folder(alice, "Photos", parent=desk)
    store_file(alice, "beach.txt", b"sand and sea", folder=make_folder(alice, "Day 1", photos))
    private = make_folder(alice, "Private", parent=desk)
    store_file(alice, "diary.txt", b"secret", folder=private)
    return {
        "desk": desk,
        "photos": photos,
        "private": private,
        "a": store_file(alice, "a.txt", b"alpha", folder=desk),
        "b": store_file(alice, "b.txt", b"beta", folder=desk),
        "hidden": store_file(alice, "hidden.txt", b"not shared", folder=desk),
    }


def _create(api, files=(), folders=(), **options):
    body = {
        "files": [str(item.public_id) for item in files],
        "folders": [str(item.public_id) for item in folders],
        **options,
    }
    return api.post("/api/v1/shares/", body)


def _token(response) -> str:
    return response.json()["url"].rsplit("/s/", 1)[1]


def test_selection_share_shows_only_the_selected_items(client, alice_api, desk):
    response = _create(alice_api, files=[desk["a"], desk["b"]], folders=[desk["photos"]])
    assert response.status_code == 201, response.json()
    assert response.json()["selection"] is True
    assert response.json()["name"] == "Selection in “Desk”"
    body = client.get(f"/s/{_token(response)}").content.decode()
    assert "3 items" in body
    assert "a.txt" in body and "b.txt" in body and "Photos" in body
    assert "hidden.txt" not in body and "Private" not in body
    # The shared folder's own name is not shown: only what was picked.
    assert "Desk" not in body


def test_visitor_downloads_each_selected_item_and_browses_a_selected_folder(
    client, alice_api, desk
):
    token = _token(_create(alice_api, files=[desk["a"]], folders=[desk["photos"]]))
    body = client.get(f"/s/{token}").content.decode()
    downloads = re.findall(rf'href="(/s/{token}/files/[A-Za-z0-9_-]{{22}}/download)"', body)
    (a_url,) = downloads
    assert b"".join(client.get(a_url).streaming_content) == b"alpha"
    (photos,) = re.findall(rf'href="(/s/{token}/folders/[A-Za-z0-9_-]{{22}})"', body)
    (day,) = re.findall(
        rf'href="(/s/{token}/folders/[A-Za-z0-9_-]{{22}})"', client.get(photos).content.decode()
    )
    inner = client.get(day).content.decode()
    (beach,) = re.findall(rf'href="(/s/{token}/files/[A-Za-z0-9_-]{{22}}/download)"', inner)
    assert b"".join(client.get(beach).streaming_content) == b"sand and sea"


def test_download_all_of_a_selection_share_zips_only_its_items(client, alice_api, desk):
    token = _token(_create(alice_api, files=[desk["a"], desk["b"]], folders=[desk["photos"]]))
    response = client.get(f"/s/{token}/download")
    assert response.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    assert sorted(archive.namelist()) == ["Photos/Day 1/beach.txt", "a.txt", "b.txt"]
    assert archive.read("Photos/Day 1/beach.txt") == b"sand and sea"
    assert archive.read("b.txt") == b"beta"


def test_items_next_to_the_selection_are_not_reachable_by_a_forged_id(client, alice_api, desk):
    token = _token(_create(alice_api, files=[desk["a"]], folders=[desk["photos"]]))
    share = ShareLink.objects.get(is_selection=True)
    hidden = opaque_id(share.token_hash, desk["hidden"].public_id)
    private = opaque_id(share.token_hash, desk["private"].public_id)
    diary = opaque_id(share.token_hash, desk["private"].files.get().public_id)
    top = opaque_id(share.token_hash, desk["desk"].public_id)
    assert client.get(f"/s/{token}/files/{hidden}/download").status_code == 404
    assert client.get(f"/s/{token}/files/{hidden}/preview").status_code == 404
    assert client.get(f"/s/{token}/folders/{private}").status_code == 404
    assert client.get(f"/s/{token}/folders/{private}/download").status_code == 404
    assert client.get(f"/s/{token}/files/{diary}/download").status_code == 404
    # The folder the items were picked in is not reachable by its own id either.
    assert client.get(f"/s/{token}/folders/{top}").status_code == 404
    assert client.get(f"/s/{token}/folders/{top}/download").status_code == 404
    for item in (hidden, private, top):
        assert client.get(f"/s/{token}/download?item={item}").status_code == 404


def test_an_item_moved_out_of_the_folder_leaves_the_selection(client, alice, alice_api, desk):
    token = _token(_create(alice_api, files=[desk["a"], desk["b"]]))
    file_update(file=desk["a"], folder=Folder.objects.get(owner=alice, parent__isnull=True))
    body = client.get(f"/s/{token}").content.decode()
    assert "a.txt" not in body and "b.txt" in body
    share = ShareLink.objects.get(is_selection=True)
    moved = opaque_id(share.token_hash, desk["a"].public_id)
    assert client.get(f"/s/{token}/files/{moved}/download").status_code == 404


def test_a_selection_share_of_another_users_item_is_404_for_all(alice_api, bob, desk):
    theirs = store_file(bob, "theirs.txt", b"bob's")
    response = _create(alice_api, files=[desk["a"], theirs])
    assert response.status_code == 404
    assert not ShareLink.objects.exists()


def test_a_selection_across_folders_is_refused(alice, alice_api, desk):
    elsewhere = store_file(alice, "root.txt", b"r")
    response = _create(alice_api, files=[desk["a"], elsewhere])
    assert response.status_code == 400
    assert "one folder at a time" in str(response.json())


def test_a_selection_share_over_the_cap_is_refused(alice_api, desk, settings):
    settings.LOCKER_BATCH_MAX_ITEMS = 2
    response = _create(alice_api, files=[desk["a"], desk["b"], desk["hidden"]])
    assert response.status_code == 400
    assert "at most 2" in response.json()["detail"]


def test_a_single_item_gets_an_ordinary_share(alice_api, desk):
    response = _create(alice_api, folders=[desk["photos"]])
    assert response.status_code == 201
    assert response.json()["selection"] is False
    assert response.json()["folder"] == str(desk["photos"].public_id)


def test_creating_a_selection_share_costs_the_same_queries_for_5_and_100_items(alice, alice_api):
    counts = []
    _create(alice_api, files=[store_file(alice, "warm.txt", b"w")])
    for n in (5, 100):
        folder = make_folder(alice, f"f{n}")
        files = [store_file(alice, f"{i}.txt", b"x", folder=folder) for i in range(n)]
        with CaptureQueriesContext(connection) as captured:
            assert _create(alice_api, files=files).status_code == 201
        counts.append(statements(captured))
    assert counts[0] == counts[1]


def test_the_page_and_download_all_of_a_selection_cost_the_same_for_5_and_100_items(
    client, alice, alice_api
):
    counts = []
    for n in (5, 100):
        folder = make_folder(alice, f"f{n}")
        files = [store_file(alice, f"{i}.txt", b"x", folder=folder) for i in range(n // 2)]
        folders = [make_folder(alice, f"d{i}", parent=folder) for i in range(n - n // 2)]
        token = _token(_create(alice_api, files=files, folders=folders))
        client.get(f"/s/{token}")
        with CaptureQueriesContext(connection) as captured:
            assert client.get(f"/s/{token}").status_code == 200
            b"".join(client.get(f"/s/{token}/download").streaming_content)
        counts.append(len(captured.captured_queries))
    assert counts[0] == counts[1]


def test_the_owners_pages_name_a_selection_share_by_its_folder(client, alice, alice_api, desk):
    response = _create(alice_api, files=[desk["a"], desk["b"]])
    client.force_login(alice)
    alice_client = client
    listing = alice_client.get("/shares/").content.decode()
    assert "Selection in “Desk”" in listing
    detail = alice_client.get(f"/shares/{response.json()['id']}/")
    assert detail.status_code == 200
    assert "Selection in “Desk”" in detail.content.decode()
