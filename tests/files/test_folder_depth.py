"""Folder depth: LOCKER_MAX_FOLDER_DEPTH is enforced by every change that can make a folder
deeper, and reading or changing a deep folder costs the same number of queries as a shallow
one (ancestry and descent are one recursive query each)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from files import services
from files.models import Folder
from files.selectors import folder_breadcrumbs, folder_get_root
from tests.fixtures.files import depth_of, make_file, make_folder, make_folder_chain

pytestmark = pytest.mark.django_db
REPO = Path(__file__).resolve().parents[2]


def queries(action) -> int:
    with CaptureQueriesContext(connection) as captured:
        action()
    return len(captured.captured_queries)


# --- Query counts do not grow with depth -----------------------------------------------------


def test_folder_detail_and_breadcrumbs_cost_the_same_queries_at_depth_1_and_60(
    alice, alice_api, client, django_assert_max_num_queries
):
    shallow = make_folder_chain(alice, 1, name="shallow")[-1]
    deep = make_folder_chain(alice, 60, name="deep")[-1]
    client.force_login(alice)

    def api(folder):
        response = alice_api.get(f"/api/v1/folders/{folder.public_id}/")
        assert response.status_code == 200
        return response.json()["path"]

    def page(folder):
        response = client.get(f"/folders/{folder.public_id}/")
        assert response.status_code == 200
        return response.content.decode()

    assert len(api(deep)) == 60 and api(deep)[0]["name"] == "deep 1"
    assert "deep 59" in page(deep)
    for fetch in (api, page):
        fetch(shallow)  # one-time work (sessions, content types) out of the way
        at_1 = queries(lambda fetch=fetch: fetch(shallow))
        at_60 = queries(lambda fetch=fetch: fetch(deep))
        assert at_1 == at_60
        with django_assert_max_num_queries(at_1):
            fetch(deep)


def test_creating_a_folder_costs_the_same_queries_at_depth_1_and_60(alice, alice_api):
    shallow = make_folder_chain(alice, 1, name="shallow")[-1]
    deep = make_folder_chain(alice, 59, name="deep")[-1]

    def create(parent, name):
        response = alice_api.post(
            "/api/v1/folders/", {"name": name, "parent": str(parent.public_id)}, format="json"
        )
        assert response.status_code == 201, response.json()
        return response

    create(shallow, "warm-up")
    at_1 = queries(lambda: create(shallow, "new"))
    at_60 = queries(lambda: create(deep, "new"))
    assert at_1 == at_60
    assert depth_of(Folder.objects.get(parent=deep, name="new")) == 60


def test_moving_a_folder_costs_the_same_queries_at_depth_1_and_60(
    alice, alice_api, django_assert_max_num_queries
):
    shallow = make_folder_chain(alice, 1, name="shallow")[-1]
    deep = make_folder_chain(alice, 60, name="deep")[-1]
    moving = make_folder_chain(alice, 3, name="moving")[0]

    def move(parent):
        response = alice_api.patch(
            f"/api/v1/folders/{moving.public_id}/",
            {"parent": str(parent.public_id) if parent else None},
            format="json",
        )
        assert response.status_code == 200, response.json()
        return response

    move(shallow)
    move(None)
    at_1 = queries(lambda: move(shallow))
    move(None)
    with django_assert_max_num_queries(at_1):
        response = move(deep)
    move(None)
    at_60 = queries(lambda: move(deep))
    assert at_1 == at_60
    assert len(response.json()["path"]) == 61
    assert depth_of(Folder.objects.get(name="moving 3")) == 63


def test_trashing_restoring_and_purging_cost_the_same_queries_at_depth_1_and_60(alice, alice_api):
    """A folder with one level below it at the top, and one with 60 levels below it, 3 deep."""
    shallow = make_folder(alice, "shallow")
    make_file(alice, "bottom.txt", folder=make_folder_chain(alice, 1, parent=shallow)[-1])
    deep = make_folder(alice, "deep", make_folder_chain(alice, 2, name="above")[-1])
    make_file(alice, "bottom.txt", folder=make_folder_chain(alice, 60, parent=deep)[-1])
    warm = make_folder(alice, "warm")

    def trash(folder):
        assert alice_api.delete(f"/api/v1/folders/{folder.public_id}/").status_code == 204

    def restore(folder):
        response = alice_api.post(f"/api/v1/trash/{folder.public_id}/restore")
        assert response.status_code == 200, response.json()

    def empty():
        assert alice_api.delete("/api/v1/trash/").json()["deleted_files"] == 1

    trash(warm)
    restore(warm)
    assert queries(lambda: trash(shallow)) == queries(lambda: trash(deep))
    assert queries(lambda: restore(shallow)) == queries(lambda: restore(deep))
    assert depth_of(Folder.objects.get(name="level 60")) == 63
    trash(shallow)
    at_1 = queries(empty)
    trash(deep)
    assert at_1 == queries(empty)
    assert not Folder.objects.filter(name__startswith="level").exists()


def test_a_zip_of_a_60_level_tree_costs_the_same_queries_as_one_of_a_single_level(alice, alice_api):
    flat = make_folder(alice, "flat")
    make_file(alice, "bottom.txt", folder=make_folder_chain(alice, 1, parent=flat)[-1])
    tall = make_folder(alice, "tall")
    make_file(alice, "bottom.txt", folder=make_folder_chain(alice, 60, parent=tall)[-1])

    def head(folder):
        response = alice_api.head(f"/api/v1/folders/{folder.public_id}/download")
        assert response.status_code == 200
        return int(response["Content-Length"])

    head(flat)
    assert queries(lambda: head(flat)) == queries(lambda: head(tall))
    response = alice_api.get(f"/api/v1/folders/{tall.public_id}/download")
    body = b"".join(response.streaming_content)
    expected = "/".join(f"level {n}" for n in range(1, 61)) + "/bottom.txt"
    assert expected.encode() in body


# --- The cap -----------------------------------------------------------------------------------


def test_a_folder_may_be_created_at_the_cap_and_not_one_level_below(alice, alice_api, settings):
    settings.LOCKER_MAX_FOLDER_DEPTH = 3
    second = make_folder_chain(alice, 2)[-1]
    third = alice_api.post(
        "/api/v1/folders/", {"name": "third", "parent": str(second.public_id)}, format="json"
    )
    assert third.status_code == 201
    fourth = alice_api.post(
        "/api/v1/folders/", {"name": "fourth", "parent": third.json()["id"]}, format="json"
    )
    assert fourth.status_code == 400
    assert "at most 3 levels" in fourth.json()["detail"]
    assert not Folder.objects.filter(name="fourth").exists()


def test_a_move_counts_the_deepest_live_folder_below_the_moved_one(alice, alice_api, settings):
    settings.LOCKER_MAX_FOLDER_DEPTH = 4
    target = make_folder_chain(alice, 2, name="target")[-1]
    top, _middle, bottom = make_folder_chain(alice, 3, name="moving")

    def move():
        return alice_api.patch(
            f"/api/v1/folders/{top.public_id}/", {"parent": str(target.public_id)}, format="json"
        )

    refused = move()
    assert refused.status_code == 400
    assert "at most 4 levels" in refused.json()["detail"]
    assert "5" in refused.json()["detail"]
    assert Folder.objects.get(pk=top.pk).parent.parent_id is None
    services.folder_trash(folder=bottom)  # what is in the trash does not count for a move…
    assert move().status_code == 200
    assert depth_of(_middle) == 4
    # …and comes back at the top level when its old place has become too deep for it.
    restored = alice_api.post(f"/api/v1/trash/{bottom.public_id}/restore")
    assert restored.status_code == 200
    assert restored.json()["folder"] is None
    assert Folder.objects.get(pk=bottom.pk).parent_id == folder_get_root(alice).pk


def test_a_restore_too_deep_even_at_the_top_level_is_refused(alice, alice_api, settings):
    top = make_folder_chain(alice, 4)[0]
    services.folder_trash(folder=top)
    settings.LOCKER_MAX_FOLDER_DEPTH = 3  # lowered while it was in the trash
    response = alice_api.post(f"/api/v1/trash/{top.public_id}/restore")
    assert response.status_code == 400
    assert "at most 3 levels" in response.json()["detail"]
    assert Folder.objects.get(pk=top.pk).deleted_at is not None


def test_a_restore_into_a_live_folder_under_a_trashed_one_goes_to_the_top(alice):
    """The place a restored item goes back to is checked all the way up, in one query."""
    outer = make_folder(alice, "outer")
    inner = make_folder(alice, "inner", outer)
    file = make_file(alice, "x.txt", folder=inner)
    services.file_trash(file=file)
    # A folder alive under a trashed one (what a race with a concurrent move could leave).
    Folder.objects.filter(pk=outer.pk).update(deleted_at=outer.created_at)
    services.trash_restore(item=file)
    file.refresh_from_db()
    assert file.folder_id == folder_get_root(alice).pk


def test_renaming_a_folder_deeper_than_a_lowered_cap_still_works(alice, settings):
    deep = make_folder_chain(alice, 5)[-1]
    settings.LOCKER_MAX_FOLDER_DEPTH = 3
    services.folder_update(folder=deep, name="renamed")
    assert [f.name for f in folder_breadcrumbs(deep)][-1] == "renamed"
    with pytest.raises(services.InvalidMove):
        services.folder_create(user=alice, parent=deep, name="below")


def test_an_unusable_max_folder_depth_stops_the_start():
    env = {
        **os.environ,
        "LOCKER_MAX_FOLDER_DEPTH": "0",
        "DJANGO_SETTINGS_MODULE": "locker.settings",
    }
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "LOCKER_MAX_FOLDER_DEPTH must be between 1 and 1000" in result.stderr


def test_a_refused_move_names_the_depth_it_would_really_make(alice, alice_api):
    """The attack pass moved a 63-level subtree under a folder 10 levels deep: the refusal said
    "this would make 65 levels" (where the height walk stopped), not 73."""
    target = make_folder_chain(alice, 10, name="target")[-1]
    subtree = make_folder_chain(alice, 64, name="subtree")
    response = alice_api.patch(
        f"/api/v1/folders/{subtree[1].public_id}/", {"parent": str(target.public_id)}, format="json"
    )
    assert response.status_code == 400
    assert "at most 64 levels" in response.json()["detail"]
    assert "this would make 73 levels" in response.json()["detail"]
    assert Folder.objects.get(pk=subtree[1].pk).parent_id == subtree[0].pk
