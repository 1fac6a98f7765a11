from django.utils import timezone

from files import services
from files.models import File
from tests.fixtures.files import make_file, make_folder


def _names(response):
    assert response.status_code == 200, response.content
    return [item["name"] for item in response.json()["results"]]


def test_files_list_shows_root_files_by_name(alice, alice_api):
    make_file(alice, "b.txt")
    make_file(alice, "A.txt")
    make_file(alice, "inside.txt", folder=make_folder(alice, "dir"))
    assert _names(alice_api.get("/api/v1/files/")) == ["A.txt", "b.txt"]


def test_file_json_has_the_contract_fields(alice, alice_api):
    folder = make_folder(alice, "dir")
    make_file(alice, "a.txt", b"hello\n", folder=folder)
    (item,) = alice_api.get(f"/api/v1/files/?folder={folder.public_id}").json()["results"]
    assert set(item) == {
        "id",
        "name",
        "size",
        "content_type",
        "sha256",
        "parent",
        "folder",  # deprecated alias of `parent`, kept for one release
        "folder_name",
        "state",
        "state_reason",
        "thumbnail",
        "processing",
        "processing_since",
        "created_at",
        "modified_at",
    }
    assert item["size"] == 6
    assert item["folder"] == str(folder.public_id)
    assert item["folder_name"] == "dir"
    assert item["content_type"] == "text/plain"
    assert item["state"] == "ready"


def test_ordering_by_size_and_dates(alice, alice_api):
    small = make_file(alice, "small", b"1")
    big = make_file(alice, "big", b"1" * 100)
    mid = make_file(alice, "mid", b"1" * 10)
    File.objects.filter(pk=small.pk).update(modified_at=timezone.now() - timezone.timedelta(days=3))
    File.objects.filter(pk=big.pk).update(modified_at=timezone.now() - timezone.timedelta(days=1))
    assert _names(alice_api.get("/api/v1/files/?ordering=size")) == ["small", "mid", "big"]
    assert _names(alice_api.get("/api/v1/files/?ordering=-size")) == ["big", "mid", "small"]
    assert _names(alice_api.get("/api/v1/files/?ordering=-name")) == ["small", "mid", "big"]
    assert _names(alice_api.get("/api/v1/files/?ordering=modified_at")) == ["small", "big", "mid"]
    assert _names(alice_api.get("/api/v1/files/?ordering=-modified_at")) == ["mid", "big", "small"]
    assert _names(alice_api.get("/api/v1/files/?ordering=created_at")) == ["small", "big", "mid"]
    assert mid


def test_unknown_ordering_answers_400(alice_api):
    response = alice_api.get("/api/v1/files/?ordering=owner__password")
    assert response.status_code == 400
    assert "ordering" in response.json()["detail"]


def test_numbered_pages_answer_with_a_count(alice, alice_api):
    for index in range(5):
        make_file(alice, f"f{index}.txt")
    first = alice_api.get("/api/v1/files/?page_size=2&page=1").json()
    assert first["count"] == 5
    assert [item["name"] for item in first["results"]] == ["f0.txt", "f1.txt"]
    assert first["next"]
    last = alice_api.get("/api/v1/files/?page_size=2&page=3").json()
    assert [item["name"] for item in last["results"]] == ["f4.txt"]
    assert last["next"] is None


def test_search_looks_through_the_whole_locker_case_insensitively(alice, bob, alice_api):
    deep = make_folder(alice, "deep", make_folder(alice, "top"))
    make_file(alice, "Holiday-Photo.JPG", folder=deep)
    make_file(alice, "holiday.txt")
    make_file(alice, "other.txt")
    make_file(bob, "holiday-bob.txt")
    trashed = make_file(alice, "holiday-trashed.txt")
    services.file_trash(file=trashed)
    assert _names(alice_api.get("/api/v1/files/?search=HOLIDAY")) == [
        "Holiday-Photo.JPG",
        "holiday.txt",
    ]


def test_search_treats_wildcards_literally(alice, alice_api):
    make_file(alice, "100%_done.txt")
    make_file(alice, "100 done.txt")
    assert _names(alice_api.get("/api/v1/files/?search=%25_")) == ["100%_done.txt"]


def test_search_for_folders(alice, alice_api):
    make_folder(alice, "Projects", make_folder(alice, "work"))
    response = alice_api.get("/api/v1/folders/?search=proj")
    assert _names(response) == ["Projects"]
