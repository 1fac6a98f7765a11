"""Deleting one trash item for good, and where each trash item was (issue 16)."""

from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import User
from files import services
from files.models import File, Folder
from storage.models import Blob
from tests.fixtures.files import make_file, make_folder, stored_keys


def _trash(api, **params):
    response = api.get("/api/v1/trash/", params)
    assert response.status_code == 200
    return response.json()["results"]


def test_deleting_one_trashed_file_for_good_frees_its_space_and_keeps_the_rest(
    alice, alice_api, django_capture_on_commit_callbacks
):
    gone = make_file(alice, "gone.bin", b"x" * 100)
    kept = make_file(alice, "kept.bin", b"y" * 10)
    services.file_trash(file=gone)
    services.file_trash(file=kept)
    keys_before = stored_keys()
    alice.refresh_from_db()
    assert alice.used_bytes == 110

    with django_capture_on_commit_callbacks(execute=True):
        response = alice_api.delete(f"/api/v1/trash/{gone.public_id}/")

    assert response.status_code == 200
    assert response.json() == {"deleted_files": 1}
    assert not File.objects.filter(pk=gone.pk).exists()
    assert not Blob.objects.filter(pk=gone.blob_id).exists()
    assert len(keys_before - stored_keys()) == 1
    alice.refresh_from_db()
    assert alice.used_bytes == 10
    assert [item["name"] for item in _trash(alice_api)] == ["kept.bin"]


def test_deleting_a_trashed_folder_for_good_deletes_what_was_deleted_with_it(alice, alice_api):
    top = make_folder(alice, "top")
    sub = make_folder(alice, "sub", top)
    make_file(alice, "one.bin", b"1" * 10, folder=top)
    make_file(alice, "two.bin", b"2" * 20, folder=sub)
    other = make_file(alice, "other.bin", b"3" * 5)
    services.folder_trash(folder=top)
    services.file_trash(file=other)

    response = alice_api.delete(f"/api/v1/trash/{top.public_id}/")

    assert response.status_code == 200 and response.json() == {"deleted_files": 2}
    assert not Folder.objects.filter(pk__in=[top.pk, sub.pk]).exists()
    assert [item["name"] for item in _trash(alice_api)] == ["other.bin"]
    alice.refresh_from_db()
    assert alice.used_bytes == 5


def test_only_your_own_trash_items_can_be_deleted_for_good(alice, bob, alice_api):
    live = make_file(alice, "live.txt")
    folder = make_folder(alice, "dir")
    inside = make_file(alice, "inside.txt", folder=folder)
    services.folder_trash(folder=folder)
    bobs = make_file(bob, "bob.txt")
    services.file_trash(file=bobs)

    for target in (live, inside, bobs):
        response = alice_api.delete(f"/api/v1/trash/{target.public_id}/")
        assert response.status_code == 404
        assert response.json()["detail"]
    assert File.objects.filter(pk__in=[live.pk, inside.pk, bobs.pk]).count() == 3
    # While her own trashed folder (the top of that deletion) goes.
    assert alice_api.delete(f"/api/v1/trash/{folder.public_id}/").status_code == 200
    assert not File.objects.filter(pk=inside.pk).exists()


def test_trash_items_say_which_folder_they_were_in(alice, alice_api):
    photos = make_folder(alice, "Photos")
    year = make_folder(alice, "2024", photos)
    make_file_in_year = make_file(alice, "beach.jpg", folder=year)
    at_top = make_file(alice, "top.txt")
    album = make_folder(alice, "album", year)
    services.file_trash(file=make_file_in_year)
    services.file_trash(file=at_top)
    services.folder_trash(folder=album)

    locations = {item["name"]: item["location"] for item in _trash(alice_api)}

    assert locations == {"beach.jpg": "/Photos/2024", "top.txt": "/", "album": "/Photos/2024"}


def test_a_trash_item_whose_folder_was_deleted_later_still_shows_where_it_was(alice, alice_api):
    docs = make_folder(alice, "Docs")
    file = make_file(alice, "a.txt", folder=docs)
    services.file_trash(file=file)
    services.folder_trash(folder=docs)

    locations = {item["name"]: item["location"] for item in _trash(alice_api)}

    assert locations == {"a.txt": "/Docs", "Docs": "/"}


def _trash_many(user: User, count: int) -> None:
    # Each item in its own folder, at its own depth: a query per row would show.
    parent = None
    for number in range(count):
        parent = make_folder(user, f"level {number}", parent)
        services.file_trash(file=make_file(user, f"f{number}.txt", folder=parent))


def test_the_trash_listing_with_locations_runs_the_same_queries_for_5_or_50_items(
    alice, bob, alice_api, bob_api
):
    _trash_many(alice, 5)
    _trash_many(bob, 50)

    def queries(api) -> int:
        with CaptureQueriesContext(connection) as captured:
            items = _trash(api, page_size=100)
        assert all(item["location"].startswith("/level 0") for item in items)
        return len(captured.captured_queries)

    assert queries(alice_api) == queries(bob_api)


def test_a_big_trashed_folder_answers_202_and_is_deleted_in_the_background(
    alice, alice_api, settings, eager_celery
):
    settings.LOCKER_JOB_BATCH_SIZE = 2
    settings.LOCKER_TRASH_EMPTY_REQUEST_BUDGET = 0  # one batch in the request
    settings.LOCKER_JOB_TIME_BUDGET = 0  # one batch a task, which queues the next
    big = make_folder(alice, "big")
    for number in range(5):
        make_file(alice, f"{number}.bin", b"z" * 10, folder=big)
    other = make_file(alice, "other.bin", b"o")
    services.folder_trash(folder=big)
    services.file_trash(file=other)

    response = alice_api.delete(f"/api/v1/trash/{big.public_id}/")

    assert response.status_code == 202
    assert response.json() == {
        "deleted_files": 2,
        "detail": "The rest of this item is being deleted in the background.",
    }
    # The task (run eagerly here) went on until the folder was gone; the other item stays.
    assert not Folder.objects.filter(pk=big.pk).exists()
    assert list(File.objects.all()) == [other]
    alice.refresh_from_db()
    assert alice.used_bytes == 1


def test_deleting_a_folder_for_good_keeps_the_items_trashed_on_their_own_inside_it(
    alice, alice_api, django_capture_on_commit_callbacks
):
    """An item deleted on its own before its folder is another trash item: deleting the
    folder for good leaves it in the trash, restorable (to the root, its folder being gone)."""
    docs = make_folder(alice, "Docs")
    sub = make_folder(alice, "Sub", parent=docs)
    alone = make_file(alice, "alone.txt", b"mine", folder=docs)
    inner = make_file(alice, "inner.txt", b"deep", folder=sub)
    with_docs = make_file(alice, "with-docs.txt", b"gone", folder=docs)
    services.file_trash(file=alone)
    services.folder_trash(folder=sub)
    services.folder_trash(folder=docs)

    with django_capture_on_commit_callbacks(execute=True):
        response = alice_api.delete(f"/api/v1/trash/{docs.public_id}/")

    assert response.status_code == 200
    assert response.json() == {"deleted_files": 1}
    assert not File.objects.filter(pk=with_docs.pk).exists()
    assert not Folder.objects.filter(pk=docs.pk).exists()
    assert sorted(item["name"] for item in _trash(alice_api)) == ["Sub", "alone.txt"]
    restored = alice_api.post(f"/api/v1/trash/{alone.public_id}/restore")
    assert restored.status_code == 200, restored.content
    assert alice_api.post(f"/api/v1/trash/{sub.public_id}/restore").status_code == 200
    assert File.objects.get(pk=inner.pk).deleted_at is None
    alice.refresh_from_db()
    assert alice.used_bytes == len(b"mine") + len(b"deep")
