"""Request bodies outside the streaming upload endpoints: nothing is spooled to disk, the size and
the JSON nesting are bounded, and the API takes JSON only.

Before: Django's own multipart parsing (the CSRF check reading request.POST on the log-in form,
the link password forms, DRF's default parsers on every API endpoint) wrote any file part above
2.5 MB to a plaintext file in $LOCKER_DATA_DIR/tmp, anonymously and without bound, and nothing
ever removed what a killed request left there; a JSON body 1,000 levels deep was a 500.
"""

import contextlib
import json
import os
import select
import socket
import time
from pathlib import Path

import pytest
from django.conf import settings

from tests.fixtures.multiworker import make_run_web_server, prepare, server_env

MB = 1024 * 1024
BOUNDARY = "zzBOUNDARYzz"
CSRF = "c" * 32

SETUP = """
from accounts.models import User
from storage.writer import content_writer
from files.services import NewFileContent, files_create
from sharing.services import share_create
user = User.objects.create_user(username="alice", email="alice@example.com", password="x-12345-y")
writer = content_writer(); writer.write(b"secret bytes"); blob = writer.finish()
(file,) = files_create(user=user, folder=None, contents=[NewFileContent(
    name="s.txt", blob=blob, size=writer.size, sha256=writer.sha256.hexdigest(),
    content_type="text/plain")])
share, token = share_create(owner=user, file=file, password="right password")
print("TOKEN=" + token)
"""


def _multipart_head(fields: dict[str, str]) -> bytes:
    head = b""
    for name, value in fields.items():
        head += (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        ).encode()
    head += (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="f"; filename="a.txt"\r\n'
        "Content-Type: text/plain\r\n\r\n"
    ).encode()
    return head


def _stream_file_part(
    port: int, path: str, fields: dict[str, str], size: int, tmp_dir: Path
) -> tuple[int, bytes, int]:
    """POST a multipart body with a `size`-byte file part, 1 MiB at a time, checking the
    server's temporary directory after every MiB. Stops sending once the server answers.
    Returns (status, body, most files seen in the temporary directory at once)."""
    head = _multipart_head(fields)
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()
    chunk = b"PLAINTEXT-ON-DISK " * (MB // 18)
    count = size // len(chunk)
    length = len(head) + count * len(chunk) + len(tail)
    most_files = 0
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(
            (
                f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Cookie: csrftoken={CSRF}\r\n"
                f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
                f"Content-Length: {length}\r\nConnection: close\r\n\r\n"
            ).encode()
            + head
        )
        try:
            for _ in range(count):
                if select.select([sock], [], [], 0)[0]:
                    break  # the server answered: stop sending
                sock.sendall(chunk)
                most_files = max(most_files, len(os.listdir(tmp_dir)))
            else:
                sock.sendall(tail)
        except OSError:
            pass  # the server closed the connection after answering
        answer = b""
        try:
            while True:
                data = sock.recv(65536)
                if not data:
                    break
                answer += data
        except OSError:
            pass
    most_files = max(most_files, len(os.listdir(tmp_dir)))
    assert answer.startswith(b"HTTP/1."), answer[:200]
    status = int(answer.split(b" ", 2)[1])
    return status, answer.split(b"\r\n\r\n", 1)[-1], most_files


@pytest.fixture(scope="module")
def web_server(tmp_path_factory):
    root = tmp_path_factory.mktemp("bodies")
    env = server_env(root / "data", "")
    token = prepare(env, SETUP).split("TOKEN=", 1)[1].strip()
    with make_run_web_server(env, root / "server.log") as server:
        yield server, token, root / "data" / "tmp"


@pytest.mark.parametrize("form", ["login", "share password"])
def test_anonymous_file_part_to_a_form_writes_nothing_to_disk(web_server, form):
    server, token, tmp_dir = web_server
    port = int(server.base.rsplit(":", 1)[1])
    path = "/accounts/login/" if form == "login" else f"/s/{token}"
    fields = {"csrfmiddlewaretoken": CSRF, "username": "alice", "password": "x"}
    status, body, most_files = _stream_file_part(port, path, fields, 50 * MB, tmp_dir)
    assert most_files == 0, "a plaintext request body was spooled to the temporary directory"
    assert status == 400
    assert b"larger than" in body


@pytest.mark.parametrize("form", ["login", "share password"])
def test_small_file_part_to_a_form_is_refused_with_a_reason(web_server, form):
    server, token, tmp_dir = web_server
    port = int(server.base.rsplit(":", 1)[1])
    path = "/accounts/login/" if form == "login" else f"/s/{token}"
    fields = {"csrfmiddlewaretoken": CSRF, "username": "alice", "password": "x"}
    status, body, most_files = _stream_file_part(port, path, fields, 1 * MB, tmp_dir)
    assert most_files == 0
    assert status == 400
    assert b"Files cannot be sent here." in body


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path", ["/api/v1/tokens/", "/api/v1/shares/", "/api/v1/upload-links/", "/api/v1/folders/"]
)
def test_multipart_to_a_json_endpoint_answers_415(alice_api, path):
    body = _multipart_head({"name": "x"}) + b"PLAINTEXT" * 1000 + f"\r\n--{BOUNDARY}--\r\n".encode()
    response = alice_api.post(
        path, data=body, content_type=f"multipart/form-data; boundary={BOUNDARY}"
    )
    assert response.status_code == 415
    assert "multipart/form-data" in response.json()["detail"]
    assert os.listdir(settings.FILE_UPLOAD_TEMP_DIR) == []


@pytest.mark.django_db
def test_json_nested_a_thousand_levels_answers_400(alice_api):
    body = "[" * 1000 + "]" * 1000
    response = alice_api.post(
        "/api/v1/folders/", data=f'{{"name": "deep", "x": {body}}}', content_type="application/json"
    )
    assert response.status_code == 400
    assert "nested too deeply" in response.json()["detail"]


@pytest.mark.django_db
def test_json_nesting_inside_strings_does_not_count(alice_api):
    response = alice_api.post(
        "/api/v1/folders/",
        data='{"name": "' + "[{" * 100 + '", "x": [[[]]]}',
        content_type="application/json",
    )
    assert response.status_code == 201, response.json()


@pytest.mark.django_db
def test_json_body_larger_than_the_limit_answers_413_unread(alice_api):
    body = b'{"name": "' + b"x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 10) + b'"}'
    response = alice_api.post("/api/v1/folders/", data=body, content_type="application/json")
    assert response.status_code == 413
    assert "larger than" in response.json()["detail"]


@pytest.mark.django_db
def test_stale_request_bodies_in_the_temp_dir_are_cleaned(settings):
    """What a request killed while Django spooled it (or an older version) left behind."""
    from files.tasks import cleanup_partial_uploads

    tmp_dir = Path(settings.FILE_UPLOAD_TEMP_DIR)
    stale = tmp_dir / "tmpabc123.upload.txt"
    stale.write_bytes(b"PLAINTEXT-ON-DISK " * 100)
    two_hours_ago = time.time() - 7200
    os.utime(stale, (two_hours_ago, two_hours_ago))
    fresh = tmp_dir / "tmpdef456.upload.txt"
    fresh.write_bytes(b"being written now")
    try:
        result = cleanup_partial_uploads()
        assert not stale.exists()
        assert fresh.exists(), "a live request's file must be spared"
        assert result["temp_files"] == 1
    finally:
        fresh.unlink(missing_ok=True)
        stale.unlink(missing_ok=True)


def _raw_exchange(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request)
        answer = b""
        with contextlib.suppress(OSError):
            while data := sock.recv(65536):
                answer += data
    return answer


@pytest.mark.parametrize(
    "request_bytes, status",
    [
        (b"POST /api/v1/tus/ HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n", 400),
        (
            b"POST /api/v1/tus/ HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
            b"Content-Length: 2\r\n\r\nab",
            400,
        ),
        (b"GET /api/v1/files/ HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n", 431),
        (b"GET /api/v1/files/?search=" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    ],
    ids=["negative length", "two lengths", "header past 8190 bytes", "URL past 4094 bytes"],
)
def test_what_gunicorn_refuses_before_the_application_is_json_with_a_sentence(
    web_server, request_bytes, status
):
    """Attack pass F3: these refusals were gunicorn's HTML pages, unlike every other error."""
    server, _token, _tmp = web_server
    port = int(server.base.rsplit(":", 1)[1])
    answer = _raw_exchange(port, request_bytes)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 %d " % status), head
    assert b"Content-Type: application/json" in head
    detail = json.loads(body)["detail"]
    assert detail.endswith(".") and len(detail) > 20
