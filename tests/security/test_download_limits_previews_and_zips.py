"""Issue 11, as the attacker sent it: Range past a download limit, the ETag that gave away the
plaintext's hash, preview-only links that handed out the original, and folder ZIPs whose entry
names outgrow the ZIP format."""

import hashlib
import io
import zipfile

import pytest
from django.test import Client
from PIL import Image

from files import processing
from files.models import File
from sharing.models import ShareAccess
from sharing.selectors import share_opaque_id
from tests.security.conftest import make_folder, store_file
from tests.workers import media

pytestmark = pytest.mark.django_db

SECRET = bytes(range(256)) * 40  # 10 KiB whose first byte an attacker would like to learn


def _body(response) -> bytes:
    if response.streaming:
        return b"".join(response.streaming_content)
    return response.content


def _counted(share) -> int:
    share.refresh_from_db()
    return share.download_count


# --- Download limits and Range -----------------------------------------------------------------


def test_a_range_from_another_client_behind_the_same_address_is_refused_after_the_last_download(
    alice, share_of
):
    """The limit was kept per address: after the one allowed download, anyone behind the same
    address (a company NAT, a /24 when IPs are anonymised) fetched the rest with `bytes=1-`."""
    file = store_file(alice, "payslip.bin", SECRET)
    share, token = share_of(file, max_downloads=1)
    owner_of_the_download = Client(REMOTE_ADDR="192.0.2.10")
    assert _body(owner_of_the_download.get(f"/s/{token}/download")) == SECRET
    other_client = Client(REMOTE_ADDR="192.0.2.10")
    response = other_client.get(f"/s/{token}/download", HTTP_RANGE="bytes=1-")
    assert response.status_code == 410
    assert SECRET[1:] not in _body(response)
    assert _counted(share) == 1


def test_repeated_ranges_cannot_fetch_a_limited_file_more_often_than_its_limit(alice, share_of):
    """`Range: bytes=1-` was served and never counted, and the ETag was the plaintext SHA-256,
    so byte 0 fell to 256 guesses: the whole file, any number of times, from any address."""
    file = store_file(alice, "payslip.bin", SECRET)
    share, token = share_of(file, max_downloads=1)
    served = []
    for attempt in range(4):
        attacker = Client(REMOTE_ADDR=f"198.51.100.{attempt + 1}")
        response = attacker.get(f"/s/{token}/download", HTTP_RANGE="bytes=1-")
        if response.status_code == 206:
            served.append(_body(response))
        else:
            assert response.status_code == 410
        etag = response.get("ETag", "").strip('"')
        if etag:
            guesses = [hashlib.sha256(bytes([b]) + SECRET[1:]).hexdigest() for b in range(256)]
            assert etag not in guesses
    assert len(served) == 1  # the one download the link allows, and it counted
    assert _counted(share) == 1
    assert ShareAccess.objects.filter(share=share, counted=True).count() == 1


def test_the_etag_of_a_share_download_is_not_the_content_hash_and_still_validates(
    alice, alice_api, share_of
):
    file = store_file(alice, "payslip.bin", SECRET)
    share, token = share_of(file, max_downloads=2)
    client = Client()
    first = client.get(f"/s/{token}/download", HTTP_RANGE="bytes=0-99")
    assert first.status_code == 206
    assert _body(first) == SECRET[:100]
    sha = hashlib.sha256(SECRET).hexdigest()
    assert all(sha not in str(value) for value in first.headers.values())
    etag = first["ETag"]
    assert sha not in etag and hashlib.sha256(SECRET[:1]).hexdigest() not in etag
    # Stable, so the usual validators keep working for the legitimate client:
    assert client.head(f"/s/{token}/download")["ETag"] == etag
    assert client.get(f"/s/{token}/download", HTTP_IF_NONE_MATCH=etag).status_code == 304
    resumed = client.get(f"/s/{token}/download", HTTP_RANGE="bytes=100-", HTTP_IF_RANGE=etag)
    assert resumed.status_code == 206
    assert _body(resumed) == SECRET[100:]
    assert _counted(share) == 1
    # A stale validator gets the whole file, which is a new (counted) download.
    stale = client.get(f"/s/{token}/download", HTTP_RANGE="bytes=100-", HTTP_IF_RANGE='"old"')
    assert stale.status_code == 200
    assert _body(stale) == SECRET
    assert _counted(share) == 2
    # The owner's API sends the same ETag; the SHA-256 stays in the owner's JSON only.
    assert alice_api.head(f"/api/v1/files/{file.public_id}/content")["ETag"] == etag
    assert alice_api.get(f"/api/v1/files/{file.public_id}/").json()["sha256"] == sha


def test_a_genuine_resume_is_served_once_counted_even_with_anonymised_ips(
    alice, share_of, settings
):
    settings.LOCKER_ANONYMISE_IPS = True
    file = store_file(alice, "payslip.bin", SECRET)
    share, token = share_of(file, max_downloads=2)
    first = Client(REMOTE_ADDR="203.0.113.5")
    neighbour = Client(REMOTE_ADDR="203.0.113.77")  # the same /24 once anonymised
    start = first.get(f"/s/{token}/download", HTTP_RANGE="bytes=0-999")
    assert _body(start) == SECRET[:1000]
    assert _counted(share) == 1
    # The neighbour resumes nothing of its own: its range is a download of its own.
    assert _body(neighbour.get(f"/s/{token}/download", HTTP_RANGE="bytes=1000-")) == SECRET[1000:]
    assert _counted(share) == 2
    # The link is used up, but the first client still finishes its own download, uncounted,
    # as a browser or download manager resumes (Range + If-Range with the ETag, its cookies).
    rest = first.get(
        f"/s/{token}/download",
        HTTP_RANGE="bytes=1000-",
        HTTP_IF_RANGE=start["ETag"],
    )
    assert rest.status_code == 206
    assert _body(rest) == SECRET[1000:]
    assert _counted(share) == 2
    # The resume is the first client's download continued: its row, not a new one.
    assert ShareAccess.objects.filter(share=share).count() == 2
    resumed = ShareAccess.objects.get(share=share, range_start=0)
    assert (resumed.resumes, resumed.bytes_sent, resumed.completed) == (1, len(SECRET), True)
    # A third client of the same /24, and a new start at byte 0, are refused.
    late = Client(REMOTE_ADDR="203.0.113.200")
    assert late.get(f"/s/{token}/download", HTTP_RANGE="bytes=1000-").status_code == 410
    assert first.get(f"/s/{token}/download").status_code == 410


def test_the_resume_cookie_of_one_file_does_not_resume_another(client, alice, share_of):
    folder = make_folder(alice, "payroll")
    mine = store_file(alice, "mine.bin", SECRET, folder=folder)
    other = store_file(alice, "other.bin", SECRET[::-1], folder=folder)
    share, token = share_of(folder, max_downloads=1)
    base = f"/s/{token}/files"
    assert _body(client.get(f"{base}/{share_opaque_id(share, mine)}/download")) == SECRET
    response = client.get(f"{base}/{share_opaque_id(share, other)}/download", HTTP_RANGE="bytes=1-")
    assert response.status_code == 410
    assert _counted(share) == 1


def test_a_forged_or_stale_resume_cookie_resumes_nothing(client, alice, share_of):
    from datetime import timedelta

    from django.utils import timezone

    file = store_file(alice, "payslip.bin", SECRET)
    share, token = share_of(file, max_downloads=1)
    client.cookies["locker_resume"] = "A" * 43
    assert client.get(f"/s/{token}/download", HTTP_RANGE="bytes=1-").status_code == 206
    assert _counted(share) == 1  # counted: the cookie is nobody's download
    assert client.get(f"/s/{token}/download", HTTP_RANGE="bytes=2-").status_code == 206
    # (the 206 above set a real cookie; it lasts a day, then resumes nothing)
    ShareAccess.objects.filter(share=share).update(at=timezone.now() - timedelta(days=2))
    assert client.get(f"/s/{token}/download", HTTP_RANGE="bytes=3-").status_code == 410


# --- Preview-only links ------------------------------------------------------------------------


@pytest.fixture
def processed(settings):
    settings.LOCKER_SCANNER = "none"
    settings.LOCKER_THUMBNAILS = True

    def process(file: File) -> File:
        processing.file_process(file_id=file.pk)
        file.refresh_from_db()
        assert file.thumbnail_state == "ready", file.thumbnail_reason
        return file

    return process


@pytest.mark.parametrize(
    ("name", "data"),
    [("photo.png", media.png((1600, 1200), mode="RGB")), ("scan.pdf", media.pdf(pages=2))],
)
def test_a_preview_only_link_never_hands_out_the_original(
    client, alice, share_of, processed, name, data
):
    """The preview route of a preview-only link served the original bytes (a PNG, a PDF)."""
    folder = make_folder(alice, "previews")
    file = processed(store_file(alice, name, data, folder=folder))
    file_share, file_token = share_of(file, allow_download=False)
    folder_share, folder_token = share_of(folder, allow_download=False)
    opaque = share_opaque_id(folder_share, file)

    preview = client.get(f"/s/{file_token}/preview")
    assert preview.status_code == 200
    assert preview["Content-Type"] == "image/webp"
    rendition = _body(preview)
    assert rendition != data
    image = Image.open(io.BytesIO(rendition))
    assert image.format == "WEBP" and max(image.size) <= 1024
    page = client.get(f"/s/{file_token}").content.decode()
    assert f'<img src="/s/{file_token}/preview"' in page

    routes = [
        f"/s/{file_token}",
        f"/s/{file_token}/download",
        f"/s/{file_token}/preview",
        f"/s/{file_token}/thumbnail?size=1024",
        f"/s/{file_token}/thumbnail?size=256",
        f"/s/{folder_token}",
        f"/s/{folder_token}/download",
        f"/s/{folder_token}/download?item={opaque}",
        f"/s/{folder_token}/files/{opaque}/download",
        f"/s/{folder_token}/files/{opaque}/preview",
        f"/s/{folder_token}/files/{opaque}/thumbnail?size=1024",
    ]
    for route in routes:
        for headers in ({}, {"HTTP_RANGE": "bytes=0-"}, {"HTTP_RANGE": "bytes=1-"}):
            response = client.get(route, **headers)
            body = _body(response)
            assert data[1:200] not in body, (route, headers, response.status_code)
    assert _counted(file_share) == 0 and _counted(folder_share) == 0


def test_a_preview_only_link_without_a_rendition_shows_no_preview(client, alice, share_of):
    """No thumbnail yet (or none possible): no preview rather than the original."""
    data = media.png((64, 64), mode="RGB")
    file = store_file(alice, "photo.png", data)
    _share, token = share_of(file, allow_download=False)
    assert client.get(f"/s/{token}/preview").status_code == 404
    assert f"/s/{token}/preview" not in client.get(f"/s/{token}").content.decode()


# --- Folder ZIPs with entry names past 65,535 bytes --------------------------------------------


def _deep_tree(alice):
    """A tree whose deepest paths are longer than a ZIP entry name can be (65,535 bytes)."""
    name = "é" * 127 + "x"  # 255 bytes in UTF-8, the longest name allowed
    top = make_folder(alice, "deep")
    current, chain = top, []
    for _level in range(257):
        current = make_folder(alice, name, parent=current)
        chain.append(current)
    store_file(alice, "a.txt", b"first", folder=current)
    store_file(alice, "b.txt", b"second", folder=current)
    make_folder(alice, "empty", parent=current)
    other = make_folder(alice, "other" + name[5:], parent=chain[-2])
    store_file(alice, "a.txt", b"third", folder=other)
    store_file(alice, "shallow.txt", b"near the top", folder=chain[0])
    return top


def _check_zip(response) -> None:
    assert response.status_code == 200
    payload = _body(response)
    assert len(payload) == int(response["Content-Length"])
    archive = zipfile.ZipFile(io.BytesIO(payload))
    assert archive.testzip() is None
    names = archive.namelist()
    assert len(names) == len(set(names))
    assert all(len(entry.encode("utf-8")) <= 65_535 for entry in names)
    files = [n for n in names if not n.endswith("/")]
    assert sorted(archive.read(n) for n in files) == sorted(
        [b"first", b"second", b"third", b"near the top"]
    )
    assert any(n.endswith("/empty/") for n in names)
    # The two deep folders stay apart; the files of one folder stay together.
    deep = {n.rsplit("/", 1)[0] for n in files if not n.endswith("shallow.txt")}
    assert len(deep) == 2


def test_a_folder_zip_with_entry_names_past_the_zip_limit_is_complete_and_valid(
    client, alice, alice_api, share_of, settings
):
    # Past 64 levels only with a raised cap (or a tree made before the cap existed).
    settings.LOCKER_MAX_FOLDER_DEPTH = 300
    top = _deep_tree(alice)
    _check_zip(alice_api.get(f"/api/v1/folders/{top.public_id}/download"))
    share, token = share_of(top)
    _check_zip(client.get(f"/s/{token}/download"))
    first = top.children.get()
    _check_zip(client.get(f"/s/{token}/download?item={share_opaque_id(share, first)}"))
