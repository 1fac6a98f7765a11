import base64
import hashlib
import os
import socket
from urllib.parse import urlsplit

import pytest

from files.models import File, UploadReservation
from storage.models import Blob
from tests.fixtures.files import make_file, make_folder, stored_keys, upload

PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000") + b"\0" * 64


def test_upload_streams_into_storage_and_answers_the_file_json(alice, alice_api, storage_backend):
    data = os.urandom(3 * 1024 * 1024 + 17)
    response = upload(alice_api, "random.bin", data)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["name"] == "random.bin"
    assert body["size"] == len(data)
    assert body["sha256"] == hashlib.sha256(data).hexdigest()
    assert body["content_type"] == "application/octet-stream"
    assert body["folder"] is None
    assert body["state"] == "ready"
    content = alice_api.get(f"/api/v1/files/{body['id']}/content")
    assert b"".join(content.streaming_content) == data
    alice.refresh_from_db()
    assert alice.used_bytes == len(data)
    assert len(stored_keys()) == 1


def test_upload_into_a_folder(alice, alice_api):
    folder = make_folder(alice, "dir")
    response = upload(alice_api, "a.txt", b"abc", folder=folder.public_id)
    assert response.status_code == 201
    assert response.json()["folder"] == str(folder.public_id)


def test_upload_many_files_at_once_answers_a_list(alice_api):
    from django.core.files.uploadedfile import SimpleUploadedFile

    files = [SimpleUploadedFile("one.txt", b"1"), SimpleUploadedFile("two.txt", b"22")]
    response = alice_api.post("/api/v1/files/", {"file": files}, format="multipart")
    assert response.status_code == 201, response.content
    assert [item["name"] for item in response.json()] == ["one.txt", "two.txt"]


def test_content_type_comes_from_the_bytes_not_the_client(alice_api):
    from django.core.files.uploadedfile import SimpleUploadedFile

    cases = {
        "image.txt": (PNG, "image/png"),
        "page.png": (b"<!DOCTYPE html><script>alert(1)</script>", "text/html"),
        "drawing.png": (b'<?xml version="1.0"?><svg xmlns="x"></svg>', "image/svg+xml"),
        "notes.bin": ("héllo wörld\n".encode(), "text/plain"),
        "blob.txt": (b"\xff\xfe\x00\x01binary", "application/octet-stream"),
    }
    for name, (data, expected) in cases.items():
        part = SimpleUploadedFile(name, data, content_type="image/png")
        response = alice_api.post("/api/v1/files/", {"file": part}, format="multipart")
        assert response.status_code == 201, response.content
        assert response.json()["content_type"] == expected, name


def test_name_conflict_answers_409_and_keeps_nothing(alice, alice_api, storage_backend):
    make_file(alice, "report.pdf")
    before = stored_keys()
    response = upload(alice_api, "REPORT.pdf", b"new")
    assert response.status_code == 409
    assert "REPORT.pdf" in response.json()["detail"]
    assert stored_keys() == before
    assert File.objects.count() == 1


def test_on_conflict_rename_stores_a_numbered_copy(alice, alice_api):
    make_file(alice, "report.pdf")
    response = upload(alice_api, "report.pdf", b"new", on_conflict="rename")
    assert response.status_code == 201
    assert response.json()["name"] == "report (1).pdf"
    response = upload(alice_api, "report.pdf", b"newer", on_conflict="rename")
    assert response.json()["name"] == "report (2).pdf"


def test_a_file_cannot_take_the_name_of_a_folder(alice, alice_api):
    make_folder(alice, "music")
    assert upload(alice_api, "Music", b"x").status_code == 409


def test_sha256_field_is_verified(alice_api):
    data = b"checked content"
    good = upload(alice_api, "ok.txt", data, sha256=hashlib.sha256(data).hexdigest().upper())
    assert good.status_code == 201


def test_sha256_mismatch_answers_400_and_keeps_nothing(alice, alice_api, storage_backend):
    before = stored_keys()
    response = upload(alice_api, "bad.txt", b"content", sha256="0" * 64)
    assert response.status_code == 400
    assert "does not match" in response.json()["detail"]
    assert stored_keys() == before
    assert not File.objects.exists() and not Blob.objects.exists()
    alice.refresh_from_db()
    assert alice.used_bytes == 0


def test_digest_headers_are_verified(alice_api):
    data = b"digest me"
    digest = base64.b64encode(hashlib.sha256(data).digest()).decode()
    from django.core.files.uploadedfile import SimpleUploadedFile

    ok = alice_api.post(
        "/api/v1/files/",
        {"file": SimpleUploadedFile("a.txt", data)},
        format="multipart",
        HTTP_CONTENT_DIGEST=f"sha-256=:{digest}:",
    )
    assert ok.status_code == 201
    ok = alice_api.post(
        "/api/v1/files/",
        {"file": SimpleUploadedFile("b.txt", data)},
        format="multipart",
        HTTP_DIGEST=f"sha-256={digest}",
    )
    assert ok.status_code == 201
    wrong = base64.b64encode(hashlib.sha256(b"other").digest()).decode()
    bad = alice_api.post(
        "/api/v1/files/",
        {"file": SimpleUploadedFile("c.txt", data)},
        format="multipart",
        HTTP_CONTENT_DIGEST=f"sha-256=:{wrong}:",
    )
    assert bad.status_code == 400
    assert File.objects.count() == 2


def test_malformed_sha256_answers_400(alice_api):
    assert upload(alice_api, "a.txt", b"x", sha256="xyz").status_code == 400


def test_missing_content_length_answers_411(alice_api):
    response = alice_api.generic(
        "POST", "/api/v1/files/", b"", content_type="multipart/form-data; boundary=x"
    )
    # The test client always sends a length; drop it the way a chunked client would.
    request_meta = {"CONTENT_LENGTH": ""}
    response = alice_api.generic(
        "POST",
        "/api/v1/files/",
        b"--x--\r\n",
        content_type="multipart/form-data; boundary=x",
        **request_meta,
    )
    assert response.status_code == 411
    assert response.json()["detail"]


def test_max_upload_size_answers_413_from_content_length(alice_api, settings, storage_backend):
    settings.LOCKER_MAX_UPLOAD_SIZE = 1024
    before = stored_keys()
    response = upload(alice_api, "big.bin", b"x" * (200 * 1024))
    assert response.status_code == 413
    assert response.json()["detail"]
    assert stored_keys() == before
    assert not Blob.objects.exists()


def test_max_upload_size_stops_a_file_while_streaming(alice_api, settings, storage_backend):
    settings.LOCKER_MAX_UPLOAD_SIZE = 1024
    before = stored_keys()
    # Small enough to pass the Content-Length check (it allows for multipart framing).
    response = upload(alice_api, "big.bin", b"x" * 2048)
    assert response.status_code == 413
    assert stored_keys() == before
    assert not Blob.objects.exists()


def test_file_of_exactly_the_max_size_is_accepted(alice_api, settings):
    settings.LOCKER_MAX_UPLOAD_SIZE = 1024
    assert upload(alice_api, "fits.bin", b"x" * 1024).status_code == 201


def _raw_post(live_server, token: str, head: bytes, body: bytes, declared: int) -> bytes:
    """Send a request whose body stops before its Content-Length, then hang up."""
    url = urlsplit(live_server.url)
    with socket.create_connection((url.hostname, url.port)) as sock:
        sock.sendall(
            b"POST /api/v1/files/ HTTP/1.1\r\n"
            + f"Host: {url.hostname}\r\nAuthorization: Bearer {token}\r\n".encode()
            + b"Content-Type: multipart/form-data; boundary=b0undary\r\n"
            + f"Content-Length: {declared}\r\nConnection: close\r\n\r\n".encode()
            + head
            + body
        )
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


@pytest.mark.parametrize("backend", ["local", pytest.param("s3", marks=pytest.mark.s3)])
def test_interrupted_upload_leaves_no_file_and_no_stored_bytes(
    request, backend, live_server, alice
):
    from accounts.services import api_token_create

    request.getfixturevalue("s3_settings" if backend == "s3" else "local_storage_settings")
    _token, secret = api_token_create(user=alice, name="raw")
    head = (
        b'--b0undary\r\nContent-Disposition: form-data; name="file"; filename="cut.bin"\r\n'
        b"Content-Type: application/octet-stream\r\n\r\n"
    )
    body = os.urandom(3 * 1024 * 1024)
    before = stored_keys()
    answer = _raw_post(live_server, secret, head, body, len(head) + len(body) + 1_000_000)
    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
    assert not File.objects.exists()
    assert not Blob.objects.exists()
    assert stored_keys() == before
    alice.refresh_from_db()
    assert alice.used_bytes == 0
    assert not UploadReservation.objects.exists()


def test_empty_file_upload(alice_api):
    response = upload(alice_api, "empty.txt", b"")
    assert response.status_code == 201
    assert response.json()["size"] == 0
    assert response.json()["sha256"] == hashlib.sha256(b"").hexdigest()


def test_request_without_a_file_part_answers_400(alice_api):
    response = alice_api.post("/api/v1/files/", {"folder": ""}, format="multipart")
    assert response.status_code == 400
    assert "No file" in response.json()["detail"]


def test_json_body_is_refused(alice_api):
    response = alice_api.post("/api/v1/files/", {"name": "x"}, format="json")
    assert response.status_code == 415


@pytest.mark.parametrize("name", ["a.txt", "日本語 ファイル.txt"])
def test_rename_and_move_a_file(alice, alice_api, name):
    file = make_file(alice, "old.txt")
    folder = make_folder(alice, "dir")
    url = f"/api/v1/files/{file.public_id}/"
    response = alice_api.patch(url, {"name": name, "folder": str(folder.public_id)}, "json")
    assert response.status_code == 200, response.content
    assert response.json()["name"] == name
    assert response.json()["folder"] == str(folder.public_id)
    response = alice_api.patch(url, {"folder": None}, "json")
    assert response.json()["folder"] is None


def test_rename_file_onto_a_taken_name_answers_409(alice, alice_api):
    make_file(alice, "taken.txt")
    file = make_file(alice, "free.txt")
    response = alice_api.patch(f"/api/v1/files/{file.public_id}/", {"name": "TAKEN.txt"}, "json")
    assert response.status_code == 409


def test_bad_file_rename_answers_400(alice, alice_api):
    file = make_file(alice, "ok.txt")
    response = alice_api.patch(f"/api/v1/files/{file.public_id}/", {"name": "a\nb"}, "json")
    assert response.status_code == 400


def test_session_upload_streams_with_the_csrf_header(alice, settings):
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.middleware.csrf import _get_new_csrf_string, _mask_cipher_secret
    from rest_framework.test import APIClient

    client = APIClient(enforce_csrf_checks=True)
    client.force_login(alice)
    secret = _get_new_csrf_string()
    client.cookies[settings.CSRF_COOKIE_NAME] = secret
    body = {"file": SimpleUploadedFile("session.txt", b"via the web UI")}
    refused = client.post("/api/v1/files/", body, format="multipart")
    assert refused.status_code == 403
    assert not File.objects.exists() and not Blob.objects.exists()
    body = {"file": SimpleUploadedFile("session.txt", b"via the web UI")}
    response = client.post(
        "/api/v1/files/", body, format="multipart", HTTP_X_CSRFTOKEN=_mask_cipher_secret(secret)
    )
    # Had the CSRF check parsed the body (accounts.authentication prevents it), the streaming
    # handler would have seen no file.
    assert response.status_code == 201, response.content
    assert response.json()["size"] == len(b"via the web UI")
