from datetime import timedelta

from django.core.management import call_command
from django.utils import timezone

from files import services
from files.models import File, Folder
from files.tasks import purge_trash
from storage.models import Blob
from tests.fixtures.files import make_file, make_folder, stored_keys


def _trash(api):
    response = api.get("/api/v1/trash/")
    assert response.status_code == 200
    return response.json()["results"]


def test_deleted_file_goes_to_the_trash_and_comes_back(alice, alice_api):
    folder = make_folder(alice, "dir")
    file = make_file(alice, "a.txt", b"abc", folder=folder)
    assert alice_api.delete(f"/api/v1/files/{file.public_id}/").status_code == 204
    assert alice_api.get(f"/api/v1/files/?folder={folder.public_id}").json()["results"] == []
    (item,) = _trash(alice_api)
    assert item["type"] == "file" and item["name"] == "a.txt" and item["size"] == 3
    assert item["id"] == str(file.public_id) and item["deleted_at"]
    response = alice_api.post(f"/api/v1/trash/{file.public_id}/restore")
    assert response.status_code == 200
    assert response.json() == {
        "type": "file",
        "id": str(file.public_id),
        "name": "a.txt",
        "folder": str(folder.public_id),
    }
    assert _trash(alice_api) == []


def test_deleted_folder_is_one_trash_item_with_its_contents(alice, alice_api):
    top = make_folder(alice, "top")
    sub = make_folder(alice, "sub", top)
    make_file(alice, "one.bin", b"1" * 10, folder=top)
    deep = make_file(alice, "two.bin", b"2" * 20, folder=sub)
    assert alice_api.delete(f"/api/v1/folders/{top.public_id}/").status_code == 204
    (item,) = _trash(alice_api)
    assert item == {
        "id": str(top.public_id),
        "type": "folder",
        "name": "top",
        "deleted_at": item["deleted_at"],
        "size": 30,
        "location": "/",
    }
    assert alice_api.get(f"/api/v1/folders/{sub.public_id}/").status_code == 404
    assert alice_api.get(f"/api/v1/files/{deep.public_id}/").status_code == 404
    assert alice_api.get("/api/v1/files/?search=two").json()["results"] == []
    # Only the top of a deletion can be restored.
    assert alice_api.post(f"/api/v1/trash/{sub.public_id}/restore").status_code == 404
    assert alice_api.post(f"/api/v1/trash/{top.public_id}/restore").status_code == 200
    assert alice_api.get(f"/api/v1/files/{deep.public_id}/").status_code == 200
    assert Folder.objects.trashed().count() == 0 and File.objects.trashed().count() == 0


def test_restore_renames_when_the_name_was_taken(alice, alice_api):
    file = make_file(alice, "report.pdf")
    services.file_trash(file=file)
    make_file(alice, "Report.pdf")
    response = alice_api.post(f"/api/v1/trash/{file.public_id}/restore")
    assert response.json()["name"] == "report (1).pdf"
    folder = make_folder(alice, "dir")
    services.folder_trash(folder=folder)
    make_folder(alice, "dir")
    response = alice_api.post(f"/api/v1/trash/{folder.public_id}/restore")
    assert response.json()["name"] == "dir (1)"


def test_restore_into_root_when_the_parent_is_gone(alice, alice_api):
    parent = make_folder(alice, "parent")
    file = make_file(alice, "lonely.txt", folder=parent)
    services.file_trash(file=file)
    services.folder_trash(folder=parent)
    response = alice_api.post(f"/api/v1/trash/{file.public_id}/restore")
    assert response.status_code == 200
    assert response.json()["folder"] is None


def test_restore_of_a_live_item_answers_404(alice, alice_api):
    file = make_file(alice, "alive.txt")
    assert alice_api.post(f"/api/v1/trash/{file.public_id}/restore").status_code == 404


def test_empty_trash_deletes_rows_blobs_and_usage(
    alice, alice_api, storage_backend, django_capture_on_commit_callbacks
):
    keep = make_file(alice, "keep.txt", b"k")
    top = make_folder(alice, "top")
    make_file(alice, "x.bin", b"x" * 100, folder=make_folder(alice, "sub", top))
    lone = make_file(alice, "lone.bin", b"l" * 50)
    services.folder_trash(folder=top)
    services.file_trash(file=lone)
    assert len(stored_keys()) == 3
    # Stored bytes are deleted once the transaction that deleted the rows has committed.
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_api.delete("/api/v1/trash/")
    assert response.status_code == 200
    assert response.json() == {"deleted_files": 2}
    assert list(File.objects.all()) == [keep]
    assert Blob.objects.count() == 1
    assert len(stored_keys()) == 1
    assert not Folder.objects.filter(name__in=["top", "sub"]).exists()
    alice.refresh_from_db()
    assert alice.used_bytes == 1


def test_purge_deletes_only_what_is_older_than_the_trash_days(
    alice, bob, settings, django_capture_on_commit_callbacks
):
    settings.LOCKER_TRASH_DAYS = 30
    old = make_file(alice, "old.bin", b"o" * 10)
    recent = make_file(alice, "recent.bin", b"r" * 20)
    folder = make_folder(bob, "bobs-old")
    make_file(bob, "in-folder.bin", b"f" * 5, folder=folder)
    services.file_trash(file=old)
    services.file_trash(file=recent)
    services.folder_trash(folder=folder)
    long_ago = timezone.now() - timedelta(days=31)
    File.objects.filter(pk=old.pk).update(deleted_at=long_ago)
    Folder.objects.filter(pk=folder.pk).update(deleted_at=long_ago)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.trash_purge_expired() == 2
    assert list(File.objects.values_list("name", flat=True)) == ["recent.bin"]
    assert not Folder.objects.filter(pk=folder.pk).exists()
    alice.refresh_from_db()
    bob.refresh_from_db()
    assert (alice.used_bytes, bob.used_bytes) == (20, 0)
    assert Blob.objects.count() == 1


def test_purge_task_and_command_call_the_same_service(alice, settings):
    file = make_file(alice, "old.bin")
    services.file_trash(file=file)
    File.objects.filter(pk=file.pk).update(deleted_at=timezone.now() - timedelta(days=400))
    assert purge_trash() == 1
    other = make_file(alice, "old2.bin")
    services.file_trash(file=other)
    File.objects.filter(pk=other.pk).update(deleted_at=timezone.now() - timedelta(days=400))
    call_command("purgetrash")
    assert not File.objects.exists()


def test_cleanup_task_removes_abandoned_partial_blobs(db, settings):
    from files.tasks import cleanup_partial_uploads
    from storage.models import Blob
    from storage.writer import content_writer

    writer = content_writer()
    writer.write(b"half")
    Blob.objects.filter(pk=writer.blob.pk).update(
        created_at=timezone.now() - timedelta(hours=settings.LOCKER_PARTIAL_UPLOAD_HOURS + 1)
    )
    assert cleanup_partial_uploads()["blobs"] == 1
    assert not Blob.objects.exists()


def test_trash_list_numbered_pages_newest_first(alice, alice_api):
    for name in ("first", "second", "third"):
        services.file_trash(file=make_file(alice, name))
    items = alice_api.get("/api/v1/trash/?page_size=2&page=1").json()
    assert items["count"] == 3
    assert [item["name"] for item in items["results"]] == ["third", "second"]


def test_a_folder_trashed_meanwhile_takes_nothing_new(alice):
    import pytest

    folder = make_folder(alice, "going")
    resolved_before_trash = Folder.objects.get(pk=folder.pk)
    services.folder_trash(folder=folder)
    with pytest.raises(services.FolderGone):
        services.folder_create(user=alice, parent=resolved_before_trash, name="late")
    with pytest.raises(services.FolderGone):
        make_file(alice, "late.txt", folder=resolved_before_trash)
    assert not File.objects.filter(name="late.txt").exists()
