"""Attacks on the upload paths (attack pass on tus and uploads): odd `Upload-Metadata`, NUL in
query strings, reservations whose sizes sum past 64 bits, thousands of 1-byte PATCHes, many
open uploads at once. Each answered 500, kept something odd, or cost the server without bound;
each must answer a 4xx with a sentence and keep nothing it should not."""

import base64

import pytest

from files.models import TusUpload, UploadReservation
from files.selectors import folder_get_root
from locker.env import MAX_BYTES
from sharing.upload_links import upload_link_create
from storage.models import Blob
from tests.tus.helpers import TUS, checksum, create, head, patch, path_of

pytestmark = pytest.mark.django_db

MIB = 1024 * 1024


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


def _nothing_left() -> bool:
    return not (
        TusUpload.objects.exists() or UploadReservation.objects.exists() or Blob.objects.exists()
    )


@pytest.fixture
def link_token(alice):
    _link, token = upload_link_create(owner=alice, folder=folder_get_root(alice))
    return token


def _create_raw(client, base: str, metadata: str, length: int = 10, **extra):
    return client.generic(
        "POST", base, **TUS, HTTP_UPLOAD_LENGTH=str(length), HTTP_UPLOAD_METADATA=metadata, **extra
    )


NAME = "filename " + _b64(b"report.pdf")


def _name(value: bytes) -> str:
    return "filename " + _b64(value)


BAD_METADATA = {
    "bad base64": "filename @@@not-base64@@@",
    "not UTF-8": _name(b"caf\xe9.txt"),
    "NUL in the name": _name(b"a\x00b.txt"),
    "line break in the name": _name(b"a\r\nb.txt"),
    "tab in the name": _name(b"a\tb.txt"),
    "slash in the name": _name(b"../etc/passwd"),
    "name past 255 bytes": _name(("é" * 128 + ".txt").encode()),
    "empty name": "filename ",
    "no name": f"filetype {_b64(b'text/plain')}",
    "duplicate name": NAME + "," + _name(b"other.txt"),
    "duplicate filetype": f"{NAME},filetype {_b64(b'a/b')},filetype {_b64(b'c/d')}",
    "too many keys": NAME + "".join(f",k{i} {_b64(b'v')}" for i in range(100)),
    "oversized header": f"{NAME},note {_b64(b'x' * 20_000)}",
    "huge filetype": f"{NAME},filetype {_b64(b'a/' + b'b' * 5000)}",
    "NUL in filetype": NAME + ",filetype " + _b64(b"text/plain\x00"),
    "non-ASCII key": f"{NAME},ключ {_b64(b'v')}",
    "control character in a key": NAME + ",k\x01ey " + _b64(b"v"),
}


@pytest.mark.parametrize("via", ["account", "upload link"])
@pytest.mark.parametrize("case", list(BAD_METADATA))
def test_bad_upload_metadata_gets_a_400_with_a_sentence_and_keeps_nothing(
    case, via, alice_api, client, link_token
):
    sender, base = (alice_api, "/api/v1/tus/") if via == "account" else (client, "")
    base = base or f"/r/{link_token}/tus/"
    response = _create_raw(sender, base, BAD_METADATA[case])
    assert response.status_code == 400, (case, response.status_code, response.content[:300])
    detail = response.json()["detail"]
    assert isinstance(detail, str) and detail.endswith("."), detail
    assert _nothing_left()


@pytest.mark.parametrize("folder", [b"\x00", b"not-an-id", b"x" * 300])
def test_an_odd_folder_id_answers_404_with_a_sentence(folder, alice_api):
    response = _create_raw(alice_api, "/api/v1/tus/", NAME + ",folder " + _b64(folder))
    assert response.status_code == 404, response.content
    assert response.json()["detail"] == "The target folder does not exist."
    assert _nothing_left()


def test_a_good_name_and_filetype_are_kept_exactly(alice_api):
    meta = f"filename {_b64('Überblick 2026.pdf'.encode())},filetype {_b64(b'application/pdf')}"
    response = _create_raw(alice_api, "/api/v1/tus/", meta)
    assert response.status_code == 201, response.content
    upload = TusUpload.objects.get()
    assert (upload.filename, upload.filetype) == ("Überblick 2026.pdf", "application/pdf")


@pytest.mark.parametrize(
    "extra",
    [
        {"HTTP_UPLOAD_CHECKSUM": checksum("sha1", b"something else")},  # 460 on the first chunk
        {"HTTP_UPLOAD_CHECKSUM": "crc32 AAAA"},  # 400 on the first chunk
    ],
)
def test_a_creation_that_fails_after_its_reservation_keeps_nothing(extra, alice_api):
    """The answer carries no Location, so nobody could ever resume or delete what stayed."""
    response = create(alice_api, 3 * MIB, body=b"first bytes", **extra)
    assert 400 <= response.status_code < 500, response.content
    assert "Location" not in response
    assert _nothing_left()


class _CutOff:
    """A request body that ends (the client went away) before its Content-Length."""

    def __init__(self, data: bytes):
        self._data = data

    def read(self, size: int = -1) -> bytes:
        size = len(self._data) if size is None or size < 0 else size
        chunk, self._data = self._data[:size], self._data[size:]
        return chunk

    def readline(self, size: int = -1) -> bytes:
        return self.read(size)


@pytest.mark.parametrize("via", ["account", "upload link"])
def test_a_creation_whose_body_is_cut_off_keeps_nothing_and_holds_no_quota(
    via, alice, alice_api, client, link_token
):
    """Attack pass F2: 4 MiB of an 8 MiB creation-with-upload, then the connection closed. The
    answer never reaches the client (no Location), so what arrived must not stay, holding the
    whole reservation for a day."""
    api, base = (
        (alice_api, "/api/v1/tus/") if via == "account" else (client, f"/r/{link_token}/tus/")
    )
    sent = b"x" * (4 * MIB)
    response = api.generic(
        "POST",
        base,
        **TUS,
        HTTP_UPLOAD_LENGTH=str(8 * MIB),
        HTTP_UPLOAD_METADATA=NAME,
        content_type="application/offset+octet-stream",  # APIClient's way
        CONTENT_TYPE="application/offset+octet-stream",  # Client's way, with no data given
        CONTENT_LENGTH=str(8 * MIB),
        **{"wsgi.input": _CutOff(sent)},
    )
    assert 400 <= response.status_code < 500, response.content
    assert "Location" not in response
    assert _nothing_left()


QUERIES = [
    "/api/v1/files/?search=a%00b",
    "/api/v1/folders/?search=%00",
    "/api/v1/files/?ordering=name%00",
    "/api/v1/uploads/?upload_link=%00",
    "/api/v1/audit/?user=al%00ice",
    "/search/?q=%00",
    "/search/?q%00=x",
]


@pytest.mark.parametrize("url", QUERIES)
def test_a_nul_in_a_query_parameter_answers_400_not_500(url, alice, alice_api, client):
    """PostgreSQL refuses NUL in any string ("A string literal cannot contain NUL")."""
    if url.startswith("/api/"):
        response = alice_api.get(url)
        assert response.status_code == 400, response.content[:300]
        assert "NUL" in response.json()["detail"]
    else:
        client.force_login(alice)
        response = client.get(url)
        assert response.status_code == 400, response.content[:300]
        assert b"NUL" in response.content


# --- reservations whose sizes sum past 2^63 - 1 ---------------------------------------------


def test_reservations_summing_past_64_bits_answer_507_not_500(alice, alice_api, settings):
    settings.LOCKER_MAX_UPLOAD_SIZE = 0
    alice.quota_bytes = 0  # unlimited: nothing stops the declared lengths from adding up
    alice.save()
    for _ in range(4):
        assert create(alice_api, MAX_BYTES).status_code == 201
    alice.quota_bytes = MAX_BYTES  # staff sets the largest quota afterwards
    alice.save()
    response = create(alice_api, 1)
    assert response.status_code == 507, response.content[:300]
    assert "Not enough space" in response.json()["detail"]
    listed = alice_api.get("/api/v1/uploads/")
    assert listed.status_code == 200 and len(listed.json()["results"]) == 4


def test_link_reservations_summing_past_64_bits_are_refused_with_a_sentence(
    alice, client, link_token, settings
):
    settings.LOCKER_MAX_UPLOAD_SIZE = 0
    alice.quota_bytes = 0
    alice.save()
    answers = [create(client, MAX_BYTES, base=f"/r/{link_token}/tus/") for _ in range(4)]
    assert [a.status_code for a in answers] == [201] * 4
    alice.quota_bytes = MAX_BYTES
    alice.save()
    response = create(client, 1, base=f"/r/{link_token}/tus/")
    assert response.status_code in (413, 429, 507), response.content[:300]
    assert response.json()["detail"].endswith(".")


# --- thousands of 1-byte PATCHes ------------------------------------------------------------


def test_a_short_chunk_that_is_not_the_last_is_refused_and_changes_nothing(alice_api):
    url = path_of(create(alice_api, 64 * MIB))
    before = TusUpload.objects.values("offset", "tail", "storage_state", "expires_at").get()
    response = patch(alice_api, url, 0, b"x")
    assert response.status_code == 400, response.content
    assert "at least 1 MiB per PATCH" in response.json()["detail"]
    assert TusUpload.objects.values("offset", "tail", "storage_state", "expires_at").get() == (
        before
    )
    assert head(alice_api, url)["Upload-Offset"] == "0"


def test_two_hundred_one_byte_patches_change_nothing(alice_api):
    url = path_of(create(alice_api, 64 * MIB))
    answers = {patch(alice_api, url, 0, b"x").status_code for _ in range(200)}
    assert answers == {400}
    assert TusUpload.objects.get().offset == 0


def test_a_short_chunk_at_the_wrong_offset_is_told_where_the_upload_stands(alice_api):
    url = path_of(create(alice_api, 64 * MIB))
    response = patch(alice_api, url, 5, b"x")
    assert response.status_code == 409 and response["Upload-Offset"] == "0"


def test_chunks_of_the_floor_and_a_short_last_chunk_complete(alice_api):
    data = bytes(range(256)) * (2 * MIB // 256) + b"tail"
    url = path_of(create(alice_api, len(data)))
    assert patch(alice_api, url, 0, data[:MIB]).status_code == 204
    assert patch(alice_api, url, MIB, data[MIB : 2 * MIB]).status_code == 204
    done = patch(alice_api, url, 2 * MIB, data[2 * MIB :])
    assert done.status_code == 204 and "Locker-File-Id" in done


def test_a_small_upload_may_still_come_in_a_few_small_chunks(alice_api):
    """Small files are cheap whatever their chunks: the floor never asks for more than a
    64th of the upload."""
    url = path_of(create(alice_api, 10))
    assert patch(alice_api, url, 0, b"12345").status_code == 204
    assert patch(alice_api, url, 5, b"67890").status_code == 204


def test_the_floor_is_a_setting(alice_api, settings):
    settings.LOCKER_TUS_MIN_CHUNK = 4096
    url = path_of(create(alice_api, 8 * MIB))
    assert patch(alice_api, url, 0, b"x" * 4095).status_code == 400
    assert patch(alice_api, url, 0, b"x" * 4096).status_code == 204


# --- open uploads per user ------------------------------------------------------------------


def test_open_uploads_per_user_are_capped_with_a_sentence_on_how_to_cancel(alice_api, settings):
    settings.LOCKER_MAX_OPEN_UPLOADS = 3
    urls = [path_of(create(alice_api, 100)) for _ in range(3)]
    refused = create(alice_api, 100)
    assert refused.status_code == 429, refused.content
    detail = refused.json()["detail"]
    assert "3 uploads in progress" in detail and "/api/v1/uploads/" in detail
    assert TusUpload.objects.count() == 3 and UploadReservation.objects.count() == 3
    # A form upload counts too.
    form = alice_api.post("/api/v1/files/", {"file": _small_file()}, format="multipart")
    assert form.status_code == 429, form.content
    # Cancelling one (tus DELETE, or DELETE /api/v1/uploads/<id>/) makes room.
    assert alice_api.generic("DELETE", urls[0], **TUS).status_code == 204
    cancel = alice_api.get("/api/v1/uploads/").json()["results"][0]["id"]
    assert alice_api.delete(f"/api/v1/uploads/{cancel}/").status_code == 204
    assert create(alice_api, 100).status_code == 201
    form = alice_api.post("/api/v1/files/", {"file": _small_file()}, format="multipart")
    assert form.status_code == 201, form.content


def _small_file():
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("small.txt", b"hello", content_type="text/plain")


def test_uploads_through_links_do_not_use_up_the_owners_own_slots(
    alice_api, client, link_token, settings
):
    """A stranger holding a link must not lock the owner out of uploading (the link has its
    own cap, LOCKER_UPLOAD_LINK_MAX_OPEN)."""
    settings.LOCKER_MAX_OPEN_UPLOADS = 2
    for _ in range(3):
        assert create(client, 100, base=f"/r/{link_token}/tus/").status_code == 201
    assert create(alice_api, 100).status_code == 201


def test_finished_uploads_free_their_slot(alice_api, settings):
    settings.LOCKER_MAX_OPEN_UPLOADS = 1
    for _ in range(3):
        response = create(alice_api, 5, body=b"hello")
        assert response.status_code == 201 and "Locker-File-Id" in response
