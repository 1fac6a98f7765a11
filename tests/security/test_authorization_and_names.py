"""SECURITY.md, "Authorization" and "Names and paths", sent as the attacker sent them."""

import io
import zipfile

import pytest

from files.models import File
from tests.fixtures.files import stored_keys, upload
from tests.security.conftest import make_folder, store_file
from tests.tus.helpers import create as tus_create
from tests.tus.helpers import head as tus_head
from tests.tus.helpers import patch as tus_patch
from tests.tus.helpers import path_of

pytestmark = pytest.mark.django_db


def test_projectsend_cve_2024_7658_another_users_ids_answer_404_on_every_action(
    alice, bob_api, alice_api
):
    """ProjectSend CVE-2024-7658, filebrowser GHSA-6cqf-cfhv-659g, Gokapi GHSA-j6jp-78w8-34x6:
    take a victim's ids (here the real ones, better than any guess) and use them everywhere."""
    folder = make_folder(alice, "hr")
    file = store_file(alice, "salary.txt", b"42", folder=folder)
    gone = store_file(alice, "old.txt", b"old")
    alice_api.delete(f"/api/v1/files/{gone.public_id}/")
    f, d = file.public_id, folder.public_id
    attempts = [
        bob_api.get(f"/api/v1/files/{f}/"),
        bob_api.get(f"/api/v1/files/{f}/content"),
        bob_api.get(f"/api/v1/files/{f}/thumbnail"),
        bob_api.patch(f"/api/v1/files/{f}/", {"name": "pwned.txt"}, format="json"),
        bob_api.delete(f"/api/v1/files/{f}/"),
        bob_api.get(f"/api/v1/folders/{d}/"),
        bob_api.get(f"/api/v1/folders/{d}/download"),
        bob_api.get(f"/api/v1/files/?folder={d}"),
        bob_api.post(f"/api/v1/trash/{gone.public_id}/restore"),
        bob_api.post("/api/v1/shares/", {"file": str(f)}, format="json"),
        bob_api.post("/api/v1/upload-links/", {"folder": str(d)}, format="json"),
        bob_api.post("/api/v1/folders/", {"name": "x", "parent": str(d)}, format="json"),
        upload(bob_api, "planted.txt", b"x", folder=d),
    ]
    for response in attempts:
        assert response.status_code in (400, 404), (response.request, response.status_code)
        assert b"salary" not in response.content
    file.refresh_from_db()
    assert file.name == "salary.txt" and file.deleted_at is None
    assert not File.objects.filter(name="planted.txt").exists()


def test_gokapi_c36c_progress_and_status_endpoints_do_not_leak_other_users(alice_api, bob_api):
    """Gokapi GHSA-c36c-7pc2-f2ph: a status stream told everyone about everyone's uploads."""
    url = path_of(tus_create(alice_api, 10, name="alice-upload.bin"))
    assert tus_head(bob_api, url).status_code == 404
    assert tus_patch(bob_api, url, 0, b"x").status_code == 404
    for listing in ("/api/v1/files/", "/api/v1/audit/", "/api/v1/shares/", "/api/v1/trash/"):
        body = bob_api.get(listing).content
        assert b"alice" not in body, listing


def test_django_cve_2021_31542_names_never_become_storage_paths(alice, alice_api):
    """Django CVE-2021-31542 / Pingvin CVE-2025-22137: traversal through a file name."""
    for name in ("../../../etc/passwd", "..\\..\\boot.ini", "/etc/shadow", "....//x"):
        response = upload(alice_api, name, b"payload")
        assert response.status_code in (201, 400), (name, response.status_code)
    for key in stored_keys():
        assert ".." not in key and "passwd" not in key and "boot" not in key


ODD_NAMES = [
    "nul\x00byte.txt",
    "line\r\nbreak.txt",
    "CON",
    "...",
    "-- !!! --",
    "é" * 127 + ".txt",  # 254 + 4 bytes: over 255 in UTF-8
    "日本" * 42 + ".pdf",  # 252 + 4 bytes
    "invoice\u202egpj.exe",  # right-to-left override
    "report\u202etxt.pdf",
]


@pytest.mark.parametrize("name", ODD_NAMES, ids=range(len(ODD_NAMES)))
def test_odd_names_get_a_clear_4xx_or_a_faithful_store_never_500(alice_api, name):
    """Odd names that crashed uploads elsewhere: NUL, CR/LF, CON, punctuation only, 255-byte
    multibyte names, right-to-left override. Stored faithfully, the download keeps the real
    extension in `filename*`."""
    from urllib.parse import unquote

    response = upload(alice_api, name, b"content")
    assert response.status_code in (201, 400), response.status_code
    if response.status_code == 400:
        assert response.json()["detail"]
        return
    stored = response.json()
    download = alice_api.get(f"/api/v1/files/{stored['id']}/content")
    encoded = download["Content-Disposition"].split("filename*=UTF-8''", 1)[1]
    assert unquote(encoded) == stored["name"]
    if "." in name:
        assert unquote(encoded).endswith(name.rsplit(".", 1)[1])


def test_psitransfer_cve_2024_31454_a_finished_upload_takes_no_more_bytes(alice_api, bob_api):
    """PsiTransfer CVE-2024-31454: appending to a finished resumable upload."""
    url = path_of(tus_create(alice_api, 5, body=b"hello"))
    assert tus_patch(alice_api, url, 5, b" world").status_code in (403, 404, 409, 410)
    assert tus_patch(bob_api, url, 0, b"evil!").status_code == 404


def test_filebrowser_gxjx_zip_entries_cannot_escape_the_extraction_folder(
    alice, alice_api, tmp_path
):
    """filebrowser GHSA-gxjx-7m74-hcq8: ZIP entries with `..`, `/`, `\\` or drive letters."""
    top = make_folder(alice, "top")
    for name in ("..\\..\\evil.txt", "C:evil.txt", "\\\\server\\share.txt", "..."):
        store_file(alice, name, b"x", folder=top)
    response = alice_api.get(f"/api/v1/folders/{top.public_id}/download")
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    for entry in archive.namelist():
        assert not entry.startswith("/") and "\\" not in entry
        assert ".." not in entry.split("/") and entry[1:2] != ":"
    archive.extractall(tmp_path)
    assert all(path.is_relative_to(tmp_path) for path in tmp_path.rglob("*"))
