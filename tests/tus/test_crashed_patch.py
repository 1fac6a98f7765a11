"""A tus PATCH's write lease frees its upload soon after its holder is gone, and DELETE always
wins (issue 12, item 3).

Against the real server (gunicorn sync workers, its own SQLite database and local storage): a
worker killed with kill -9 in the middle of a PATCH leaves the upload resumable within seconds
(LOCKER_TUS_LOCK_LEASE), and a DELETE sent while a PATCH is still receiving bytes ends the upload
at once: the PATCH stops, nothing of it is kept, the quota is free.
"""

import base64
import json

import pytest

from tests.fixtures.live_uploads import (
    finish,
    partial_objects,
    query,
    request,
    setup_script,
    start,
    token_from,
    wait_until,
)
from tests.fixtures.multiworker import gunicorn_server, prepare, server_env

MB = 1_000_000
QUOTA = 10 * MB
LOCK_LEASE = 2  # seconds: short, so that the test sees it lapse
DATA = bytes(range(256)) * (4 * MB // 256)


def _server(tmp_path, workers: int):
    data_dir = tmp_path / "data"
    env = server_env(data_dir, "", LOCKER_TUS_LOCK_LEASE=str(LOCK_LEASE))
    token = token_from(prepare(env, setup_script(quota=QUOTA)))
    with gunicorn_server(env, tmp_path / "access.log", workers=workers) as gunicorn:
        yield gunicorn, data_dir, {"Authorization": f"Bearer {token}", "Tus-Resumable": "1.0.0"}


@pytest.fixture
def one_worker(tmp_path):
    yield from _server(tmp_path, 1)


@pytest.fixture
def two_workers(tmp_path):
    yield from _server(tmp_path, 2)


def _create(gunicorn, auth, length: int) -> str:
    name = base64.b64encode(b"data.bin").decode()
    status, headers, body = request(
        gunicorn.base,
        "POST",
        "/api/v1/tus/",
        {**auth, "Upload-Length": str(length), "Upload-Metadata": f"filename {name}"},
    )
    assert status == 201, body
    return "/" + headers["Location"].split("/", 3)[3]


def _start_patch(gunicorn, auth, data_dir, url: str):
    """A PATCH of the whole file with only its first 1.5 MB sent: it holds the upload."""
    sock = start(
        gunicorn.base,
        "PATCH",
        url,
        {**auth, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"},
        len(DATA),
        DATA[: 3 * MB // 2],
    )
    wait_until(
        lambda: query(data_dir, "SELECT lock_token FROM files_tusupload")[0][0],
        what="the PATCH to take the upload",
    )
    return sock


def _patch(gunicorn, auth, url: str, offset: int) -> tuple[int, dict]:
    status, headers, _body = request(
        gunicorn.base,
        "PATCH",
        url,
        {**auth, "Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"},
        DATA[offset:],
    )
    return status, headers


def _offset(gunicorn, auth, url: str) -> int:
    status, headers, _body = request(gunicorn.base, "HEAD", url, auth)
    assert status == 200
    return int(headers["Upload-Offset"])


def test_a_patch_killed_mid_body_frees_its_upload_within_seconds(one_worker):
    gunicorn, data_dir, auth = one_worker
    url = _create(gunicorn, auth, len(DATA))
    sock = _start_patch(gunicorn, auth, data_dir, url)
    dead = gunicorn.kill_worker()  # kill -9 while the PATCH holds the upload
    sock.close()
    gunicorn.wait_for_new_worker(dead)

    answers: list[int] = []

    def resumed():
        status, headers = _patch(gunicorn, auth, url, _offset(gunicorn, auth, url))
        answers.append(status)
        return headers if status == 204 else None

    headers = wait_until(resumed, timeout=60, what="the dead PATCH's lease to lapse")
    assert set(answers) <= {423, 204}, answers  # refused while the lease lived, never broken
    file_id = headers["Locker-File-Id"]
    status, _headers, body = request(gunicorn.base, "GET", f"/api/v1/files/{file_id}/content", auth)
    assert status == 200 and body == DATA
    assert query(data_dir, "SELECT count(*) FROM files_uploadreservation") == [(0,)]
    assert partial_objects(data_dir) == []


def test_delete_during_a_live_patch_wins(two_workers):
    gunicorn, data_dir, auth = two_workers
    url = _create(gunicorn, auth, len(DATA))
    sock = _start_patch(gunicorn, auth, data_dir, url)

    # The other worker answers the DELETE while the first is still receiving the PATCH.
    status, _headers, body = request(gunicorn.base, "DELETE", url, auth)
    assert status == 204, body
    assert query(data_dir, "SELECT count(*) FROM files_tusupload") == [(0,)]
    assert query(data_dir, "SELECT count(*) FROM files_uploadreservation") == [(0,)]

    # The PATCH learns it lost the upload and stops; nothing of it is kept anywhere.
    assert finish(sock, DATA[3 * MB // 2 :]) in (0, 410)
    assert request(gunicorn.base, "HEAD", url, auth)[0] == 404
    wait_until(lambda: partial_objects(data_dir) == [], what="the partial object to be removed")
    assert query(data_dir, "SELECT count(*) FROM files_blob") == [(0,)]
    assert query(data_dir, "SELECT count(*) FROM files_file") == [(0,)]
    status, _headers, body = request(gunicorn.base, "GET", "/api/v1/uploads/", auth)
    assert status == 200 and json.loads(body)["results"] == []
    # The whole quota is free again.
    assert _create(gunicorn, auth, QUOTA)
