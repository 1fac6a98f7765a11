"""A form upload whose request dies gives its quota back within its lease (issue 12, item 2).

Against the real server (gunicorn, one sync worker, its own SQLite database and local storage):
the reservation belongs to the live request, renewed while its bytes arrive, so a worker killed
mid-body (kill -9) or a client that goes away holds nothing for longer than LOCKER_UPLOAD_LEASE,
and `cleanuppartialuploads --hours 0` removes what the dead request left.
"""

import json

import pytest

from tests.fixtures.live_uploads import (
    finish,
    multipart,
    partial_objects,
    query,
    request,
    setup_script,
    start,
    token_from,
    wait_until,
)
from tests.fixtures.multiworker import gunicorn_server, manage, prepare, server_env

MB = 1_000_000
QUOTA = 10 * MB
LEASE = 2  # seconds: short, so that the test sees it lapse


def _server(tmp_path, workers: int):
    data_dir = tmp_path / "data"
    env = server_env(data_dir, "", LOCKER_UPLOAD_LEASE=str(LEASE))
    token = token_from(prepare(env, setup_script(quota=QUOTA)))
    with gunicorn_server(env, tmp_path / "access.log", workers=workers) as gunicorn:
        yield gunicorn, env, data_dir, {"Authorization": f"Bearer {token}"}


@pytest.fixture
def server(tmp_path):
    """One worker: the one to kill is the one storing the upload."""
    yield from _server(tmp_path, 1)


@pytest.fixture
def two_workers(tmp_path):
    """One worker stores the upload while the other answers its owner."""
    yield from _server(tmp_path, 2)


def _start_big_upload(gunicorn, auth, data_dir):
    """9 MB announced, 3 MB sent: the worker is storing the file when this returns; returns
    the socket and the rest of the body."""
    head, data, tail, content_type = multipart("big.bin", 9 * MB)
    sock = start(
        gunicorn.base,
        "POST",
        "/api/v1/files/",
        {**auth, "Content-Type": content_type},
        len(head) + len(data) + len(tail),
        head + data[: 3 * MB],
    )
    wait_until(
        lambda: query(data_dir, "SELECT count(*) FROM files_blob WHERE state = 'writing'")[0][0],
        what="the worker to store the upload",
    )
    assert query(data_dir, "SELECT size FROM files_uploadreservation") == [
        (len(head) + len(data) + len(tail),)
    ]
    return sock, data[3 * MB :] + tail


def _upload(gunicorn, auth, name: str, size: int) -> int:
    head, data, tail, content_type = multipart(name, size)
    status, _headers, _body = request(
        gunicorn.base,
        "POST",
        "/api/v1/files/",
        {**auth, "Content-Type": content_type},
        head + data + tail,
    )
    return status


def _used(gunicorn, auth) -> int:
    status, _headers, body = request(gunicorn.base, "GET", "/api/v1/me/", auth)
    assert status == 200
    return json.loads(body)["used"]


def test_a_killed_upload_gives_its_quota_back_within_the_lease(server):
    gunicorn, env, data_dir, auth = server
    sock, _rest = _start_big_upload(gunicorn, auth, data_dir)
    dead = gunicorn.kill_worker()  # kill -9 in the middle of the body
    sock.close()
    gunicorn.wait_for_new_worker(dead)

    # 1 MB is free while the dead request's 9 MB count; once its lease lapsed, all of it is.
    wait_until(
        lambda: _upload(gunicorn, auth, "retry.bin", 5 * MB) == 201,
        what="the dead upload's reservation to stop counting",
    )
    assert _used(gunicorn, auth) == 5 * MB

    # What the dead request left: its half-written blob and its lapsed reservation.
    assert query(data_dir, "SELECT count(*) FROM files_blob WHERE state = 'writing'") == [(1,)]
    assert len(partial_objects(data_dir)) == 1
    output = manage(env, "cleanuppartialuploads", "--hours", "0")
    assert "Abandoned blobs removed: 1; reservations removed: 1;" in output
    assert query(data_dir, "SELECT count(*) FROM files_blob WHERE state = 'writing'") == [(0,)]
    assert query(data_dir, "SELECT count(*) FROM files_uploadreservation") == [(0,)]
    assert partial_objects(data_dir) == []
    assert query(data_dir, "SELECT name, size FROM files_file") == [("retry.bin", 5 * MB)]


def test_an_upload_whose_client_goes_away_keeps_nothing(server):
    gunicorn, _env, data_dir, auth = server
    sock, _rest = _start_big_upload(gunicorn, auth, data_dir)
    sock.close()  # the client is gone half-way through the body

    wait_until(
        lambda: _upload(gunicorn, auth, "retry.bin", 5 * MB) == 201,
        what="the abandoned upload's reservation to be released",
    )
    writing = "SELECT count(*) FROM files_blob WHERE state = 'writing'"
    wait_until(lambda: not query(data_dir, writing)[0][0], what="the abandoned upload's blob to go")
    assert query(data_dir, "SELECT count(*) FROM files_uploadreservation") == [(0,)]
    assert partial_objects(data_dir) == []
    assert _used(gunicorn, auth) == 5 * MB


def test_the_owner_cancels_a_form_upload_in_progress(two_workers):
    gunicorn, _env, data_dir, auth = two_workers
    sock, rest = _start_big_upload(gunicorn, auth, data_dir)
    status, _headers, body = request(gunicorn.base, "GET", "/api/v1/uploads/", auth)
    assert status == 200
    (row,) = json.loads(body)["results"]
    assert (row["kind"], row["name"], row["received"]) == ("form", "big.bin", None)

    assert request(gunicorn.base, "DELETE", f"/api/v1/uploads/{row['id']}/", auth)[0] == 204
    # The request learns it at its next renewal (or at the latest when it would create the
    # file), stops and keeps nothing.
    assert finish(sock, rest) in (0, 410)
    assert query(data_dir, "SELECT count(*) FROM files_blob") == [(0,)]
    assert query(data_dir, "SELECT count(*) FROM files_file") == [(0,)]
    assert partial_objects(data_dir) == []
    assert _upload(gunicorn, auth, "whole.bin", 9 * MB) == 201
