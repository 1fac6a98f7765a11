import html
import io
import re
import uuid
import zipfile

import pytest

from files.services import file_trash, folder_trash
from sharing.models import ShareLink
from sharing.tokens import opaque_id
from tests.sharing.conftest import make_folder, store_file


@pytest.fixture
def album(alice):
    album = make_folder(alice, "Holiday")
    inner = make_folder(alice, "Day 1", parent=album)
    store_file(alice, "notes.txt", b"sunny", folder=album)
    store_file(alice, "beach.txt", b"sand and sea", folder=inner)
    return album


def links(body: str, kind: str) -> list[str]:
    return re.findall(rf'href="(/s/[^"]+/{kind}/[A-Za-z0-9_-]{{22}}[^"]*)"', body)


def file_downloads(body: str) -> list[str]:
    """The files' download links (their names link to the viewer's /preview too)."""
    return [link for link in links(body, "files") if link.endswith("/download")]


def test_folder_page_lists_files_and_subfolders(client, album, share_of):
    _share, token = share_of(album)
    body = client.get(f"/s/{token}").content.decode()
    assert "notes.txt" in body
    assert "Day 1" in body
    assert len(links(body, "folders")) == 1
    assert len(file_downloads(body)) == 1


def test_visitor_browses_a_subfolder_and_downloads_a_file_in_it(client, album, share_of):
    share, token = share_of(album)
    (sub,) = links(client.get(f"/s/{token}").content.decode(), "folders")
    page = client.get(sub)
    assert page.status_code == 200
    body = page.content.decode()
    assert "beach.txt" in body
    (download,) = [link for link in links(body, "files") if link.endswith("/download")]
    response = client.get(download)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"sand and sea"
    share.refresh_from_db()
    assert share.download_count == 1


def test_whole_folder_downloads_as_a_zip_and_counts(client, album, share_of):
    share, token = share_of(album, max_downloads=1)
    response = client.get(f"/s/{token}/download")
    assert response.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    assert sorted(archive.namelist()) == ["Day 1/beach.txt", "notes.txt"]
    share.refresh_from_db()
    assert share.download_count == 1
    assert client.get(f"/s/{token}/download").status_code == 410


def test_opaque_ids_are_not_the_files_public_ids(client, album, alice, share_of):
    _share, token = share_of(album)
    body = client.get(f"/s/{token}").content.decode()
    for file in alice.files.all():
        assert str(file.public_id) not in body
        assert file.public_id.hex not in body


def test_a_file_id_from_share_a_answers_404_through_share_b(client, alice, album, share_of):
    _a, token_a = share_of(album)
    _b, token_b = share_of(album)
    (download,) = file_downloads(client.get(f"/s/{token_a}").content.decode())
    opaque = download.split("/files/")[1].split("/")[0]
    assert client.get(f"/s/{token_b}/files/{opaque}/download").status_code == 404
    assert client.get(f"/s/{token_a}/files/{opaque}/download").status_code == 200


def test_a_file_outside_the_shared_folder_answers_404(client, alice, album, share_of):
    share, token = share_of(album)
    outside = store_file(alice, "secret.txt", b"private")
    forged = opaque_id(share.token_hash, outside.public_id)  # even a correctly derived id
    assert client.get(f"/s/{token}/files/{forged}/download").status_code == 404


def test_another_users_file_answers_404_even_with_a_correct_id(client, bob, album, share_of):
    share, token = share_of(album)
    foreign = store_file(bob, "bob.txt", b"bob's")
    forged = opaque_id(share.token_hash, foreign.public_id)
    assert client.get(f"/s/{token}/files/{forged}/download").status_code == 404


def test_a_trashed_file_inside_a_shared_folder_answers_404(client, alice, album, share_of):
    _share, token = share_of(album)
    (download,) = file_downloads(client.get(f"/s/{token}").content.decode())
    file_trash(file=alice.files.get(name="notes.txt"))
    assert client.get(download).status_code == 404


def test_a_trashed_shared_folder_kills_the_link(client, album, share_of):
    _share, token = share_of(album)
    folder_trash(folder=album)
    assert client.get(f"/s/{token}").status_code == 410
    assert client.get(f"/s/{token}/download").status_code == 410


def test_a_file_share_has_no_files_inside(client, report, share_of):
    share, token = share_of(report)
    forged = opaque_id(share.token_hash, report.public_id)
    assert client.get(f"/s/{token}/files/{forged}/download").status_code == 404
    assert client.get(f"/s/{token}/folders/{forged}").status_code == 404


def test_random_opaque_ids_answer_404(client, album, share_of):
    _share, token = share_of(album)
    random_id = opaque_id("x" * 64, uuid.uuid4())
    assert client.get(f"/s/{token}/files/{random_id}/download").status_code == 404
    assert client.get(f"/s/{token}/folders/{random_id}").status_code == 404


def test_password_protects_files_inside_a_folder_share(client, album, share_of):
    share, token = share_of(album, password="open sesame")
    assert ShareLink.objects.get(pk=share.pk).password_hash
    file = album.files.get(name="notes.txt")
    inside = opaque_id(share.token_hash, file.public_id)
    assert client.get(f"/s/{token}/files/{inside}/download").status_code == 401
    assert client.get(f"/s/{token}/download").status_code == 401


def test_a_selection_downloads_as_one_zip_and_counts_once(client, alice, album, share_of):
    share, token = share_of(album)
    body = client.get(f"/s/{token}").content.decode()
    items = re.findall(r'name="item" value="([A-Za-z0-9_-]{22})"', body)
    assert len(items) == 2  # the subfolder and notes.txt
    response = client.get(f"/s/{token}/download", {"item": items})
    assert response.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    assert sorted(archive.namelist()) == ["Day 1/beach.txt", "notes.txt"]
    share.refresh_from_db()
    assert share.download_count == 1


def test_a_selection_with_a_foreign_id_answers_404(client, alice, album, share_of):
    _share, token = share_of(album)
    other, _other_token = share_of(album)
    outside = store_file(alice, "secret.txt", b"private")
    forged = opaque_id(other.token_hash, outside.public_id)
    assert client.get(f"/s/{token}/download", {"item": [forged]}).status_code == 404


def test_a_selection_needs_the_password_too(client, album, share_of):
    share, token = share_of(album, password="pw")
    item = opaque_id(share.token_hash, album.files.get().public_id)
    assert client.get(f"/s/{token}/download", {"item": [item]}).status_code == 401


def test_files_not_cleared_by_processing_stay_out_of_zips(client, alice, album, share_of):
    from files.models import File

    File.objects.filter(name="notes.txt").update(state=File.State.PENDING)
    share, token = share_of(album)
    response = client.get(f"/s/{token}/download")
    names = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))).namelist()
    assert names == ["Day 1/beach.txt"]
    pending = album.files.get(name="notes.txt")
    assert (
        client.get(
            f"/s/{token}/files/{opaque_id(share.token_hash, pending.public_id)}/download"
        ).status_code
        == 409
    )


def _names(response) -> list[str]:
    rows = re.findall(
        r'<tr class="share-(?:entry|subfolder)">(.*?)</tr>', response.content.decode(), re.S
    )
    return [
        html.unescape(re.sub(r"<[^>]+>", "", re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)[1]))
        for row in rows
    ]


def _pager(response, rel: str) -> str | None:
    match = re.search(rf'rel="{rel}" href="([^"]+)"', response.content.decode())
    return html.unescape(match.group(1)) if match else None


def test_pages_list_subfolders_then_files_across_the_page_boundary(client, alice, share_of):
    top = make_folder(alice, "Archive")
    inner = make_folder(alice, "Inner", parent=top)
    folders = [f"Box {n:03}" for n in range(130)]
    for name in folders:
        make_folder(alice, name, parent=inner)
    files = [f"Ledger {n:03} & co.txt" for n in range(80)]  # names that need escaping
    for name in files:
        store_file(alice, name, b"ledger", folder=inner)
    share, token = share_of(top)
    (sub,) = links(client.get(f"/s/{token}").content.decode(), "folders")

    first = client.get(sub)
    assert _names(first) == [f"{name}/" for name in folders[:100]]
    second = client.get(sub + _pager(first, "next"))
    assert _names(second) == [f"{name}/" for name in folders[100:]] + files[:70]
    third = client.get(sub + _pager(second, "next"))
    assert _names(third) == files[70:]
    assert _pager(third, "next") is None
    back = client.get(sub + _pager(third, "prev"))
    assert _names(back) == _names(second)
    assert _names(client.get(sub + _pager(back, "prev"))) == _names(first)
    # Each page's "Download selected" holds that page's items; "Download all" the whole folder.
    assert f'href="{sub}/download"' in first.content.decode()


def test_a_malformed_or_foreign_page_cursor_shows_the_first_page(client, alice, share_of):
    top = make_folder(alice, "Archive")
    for n in range(3):
        store_file(alice, f"ledger {n}.txt", b"ledger", folder=top)
    _share, token = share_of(top)
    first = _names(client.get(f"/s/{token}"))
    assert first == [f"ledger {n}.txt" for n in range(3)]
    for cursor in (
        "",
        "x",
        "f" + "A" * 21,
        "q" + "A" * 22 + "ledger 0.txt",
    ):
        response = client.get(f"/s/{token}?after={cursor}")
        assert response.status_code == 200
        assert _names(response) == first
    # A NUL (`%00`) in any query parameter answers 400 before any view (locker/middleware.py).
    for cursor in ("%00" * 40, "f" + "A" * 22 + "%00"):
        assert client.get(f"/s/{token}?after={cursor}").status_code == 400
    # An opaque id of another share decodes to some id here: a position, nothing more.
    other, _other_token = share_of(make_folder(alice, "Other"))
    foreign = "f" + opaque_id(other.token_hash, uuid.uuid4()) + "ledger 0.txt"
    assert _names(client.get(f"/s/{token}?after={foreign}")) in (first, first[1:])
