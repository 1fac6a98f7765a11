"""A tus PATCH whose client sends its headers and some bytes, then goes silent without closing,
must end: the real web server (gunicorn with locker.gunicorn_worker, as `make run` starts it)
cuts it after LOCKER_REQUEST_READ_TIMEOUT, the upload's write lease is free within
LOCKER_TUS_LOCK_LEASE, and the client resumes with HEAD + PATCH to a complete file."""

import base64
import socket

import pytest

from tests.fixtures.live_uploads import query, request, setup_script, start, token_from, wait_until
from tests.fixtures.multiworker import make_run_web_server, prepare, server_env

MB = 1_000_000
TIMEOUT = 3  # LOCKER_REQUEST_HEADER_TIMEOUT and LOCKER_REQUEST_READ_TIMEOUT, seconds
LOCK_LEASE = 2  # LOCKER_TUS_LOCK_LEASE, seconds
DATA = bytes(range(256)) * (8 * MB // 256)
OCTETS = "application/offset+octet-stream"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("stalled-patch")
    data_dir = root / "data"
    env = server_env(
        data_dir,
        "",
        LOCKER_REQUEST_HEADER_TIMEOUT=f"{TIMEOUT}s",
        LOCKER_REQUEST_READ_TIMEOUT=f"{TIMEOUT}s",
        LOCKER_REQUEST_MIN_RATE="1K",
        LOCKER_TUS_LOCK_LEASE=str(LOCK_LEASE),
        LOCKER_API_RATE_USER="100000/min",
    )
    token = token_from(prepare(env, setup_script(quota=100 * MB)))
    with make_run_web_server(env, root / "server.log") as web:
        yield web, data_dir, {"Authorization": f"Bearer {token}", "Tus-Resumable": "1.0.0"}


def _create(web, auth) -> str:
    name = base64.b64encode(b"stalled.bin").decode()
    headers = {**auth, "Upload-Length": str(len(DATA)), "Upload-Metadata": f"filename {name}"}
    status, answer, body = request(web.base, "POST", "/api/v1/tus/", headers)
    assert status == 201, body
    return "/" + answer["Location"].split("/", 3)[3]


def _answer_or_close(sock: socket.socket) -> bytes:
    """What the server sends before it closes; b"" when it closes without an answer. A server
    that never ends the request fails here (the socket's own timeout, 60 s)."""
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except ConnectionResetError:
        pass
    finally:
        sock.close()
    return received


def _resume(web, auth, url: str) -> list[int]:
    """HEAD + PATCH of the rest until the upload is complete; the statuses seen on the way."""
    answers: list[int] = []

    def resumed():
        status, headers, _body = request(web.base, "HEAD", url, auth)
        assert status == 200
        offset = int(headers["Upload-Offset"])
        status, headers, _body = request(
            web.base,
            "PATCH",
            url,
            {**auth, "Upload-Offset": str(offset), "Content-Type": OCTETS},
            DATA[offset:],
        )
        answers.append(status)
        return headers if status == 204 else None

    headers = wait_until(resumed, timeout=60, what="the stalled PATCH's lease to be free")
    status, _headers, body = request(
        web.base, "GET", f"/api/v1/files/{headers['Locker-File-Id']}/content", auth
    )
    assert status == 200 and body == DATA
    return answers


@pytest.mark.parametrize("sent", [100, 3 * MB], ids=["a few bytes", "past the buffered part"])
def test_a_stalled_patch_is_cut_and_the_upload_resumes(server, sent):
    """A few bytes stall while the worker's loop still buffers the body (the view never runs);
    3 MB stall inside the view, which holds the write lease while it reads."""
    web, data_dir, auth = server
    url = _create(web, auth)
    sock = start(
        web.base,
        "PATCH",
        url,
        {**auth, "Upload-Offset": "0", "Content-Type": OCTETS},
        len(DATA),
        DATA[:sent],
    )  # and then nothing more, and the connection stays open
    answer = _answer_or_close(sock)
    assert answer == b"" or answer.startswith((b"HTTP/1.1 4", b"HTTP/1.1 204")), answer[:200]
    assert not answer.startswith(b"HTTP/1.1 5")
    # The lease does not outlive the request by more than LOCKER_TUS_LOCK_LEASE.
    wait_until(
        lambda: (
            query(
                data_dir,
                "SELECT count(*) FROM files_tusupload WHERE lock_token != '' "
                "AND locked_until > strftime('%Y-%m-%d %H:%M:%f', 'now')",
            )
            == [(0,)]
        ),
        timeout=3 * LOCK_LEASE + 5,
        what="the write lease to be free",
    )
    answers = _resume(web, auth, url)
    assert set(answers) <= {204, 423}, answers
    assert query(data_dir, "SELECT count(*) FROM files_uploadreservation") == [(0,)]
