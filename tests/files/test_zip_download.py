import io
import zipfile

from files import services
from files.zips import zip_entry_name
from tests.fixtures.files import make_file, make_folder


def _zip(response) -> zipfile.ZipFile:
    data = b"".join(response.streaming_content)
    assert response["Content-Length"] == str(len(data))
    return zipfile.ZipFile(io.BytesIO(data))


def test_folder_zip_round_trip_with_unicode_and_empty_folders(alice, alice_api, storage_backend):
    top = make_folder(alice, "Vacances été")
    sub = make_folder(alice, "日本", top)
    make_folder(alice, "empty", make_folder(alice, "nested", top))
    make_file(alice, "a.txt", b"alpha", folder=top)
    make_file(alice, "b 🎉.bin", bytes(range(256)) * 1000, folder=sub)
    gone = make_file(alice, "trashed.txt", b"no", folder=top)
    services.file_trash(file=gone)
    response = alice_api.get(f"/api/v1/folders/{top.public_id}/download")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert "Vacances%20%C3%A9t%C3%A9.zip" in response["Content-Disposition"]
    archive = _zip(response)
    assert archive.testzip() is None
    names = set(archive.namelist())
    assert names == {"a.txt", "日本/b 🎉.bin", "nested/empty/"}
    assert archive.read("a.txt") == b"alpha"
    assert archive.read("日本/b 🎉.bin") == bytes(range(256)) * 1000
    for info in archive.infolist():
        assert info.compress_type == zipfile.ZIP_STORED


def test_zip_entry_names_are_sanitised():
    assert zip_entry_name(["..", "a"]) == "_/a"
    assert zip_entry_name(["back\\slash", "x"]) == "back_slash/x"
    assert zip_entry_name(["C:", "evil.txt"]) == "C_/evil.txt"
    assert not zip_entry_name(["", "x"]).startswith("/")


def test_zip_of_hostile_names_extracts_inside_the_target(alice, alice_api, tmp_path):
    top = make_folder(alice, "top")
    make_file(alice, "..\\..\\evil.txt", b"x", folder=top)
    make_file(alice, "C:evil.txt", b"y", folder=top)
    archive = _zip(alice_api.get(f"/api/v1/folders/{top.public_id}/download"))
    for name in archive.namelist():
        assert not name.startswith("/") and "\\" not in name and ".." not in name.split("/")
        assert name[1:2] != ":"
    archive.extractall(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(archive.namelist())


def test_empty_folder_zip(alice, alice_api):
    top = make_folder(alice, "nothing")
    archive = _zip(alice_api.get(f"/api/v1/folders/{top.public_id}/download"))
    assert archive.namelist() == []


def test_zip_head_has_the_length_and_no_body(alice, alice_api):
    top = make_folder(alice, "top")
    make_file(alice, "a.txt", b"alpha", folder=top)
    url = f"/api/v1/folders/{top.public_id}/download"
    head = alice_api.head(url)
    assert head.status_code == 200
    assert head.content == b""
    assert head["Content-Length"] == alice_api.get(url)["Content-Length"]
