"""An upload link never tells a stranger its owner's quota figures, not even when the upload's
lease lapsed mid-body and its room was taken meanwhile (the renewal that fails states them).

Against the real server (gunicorn, two sync workers, its own SQLite database): the stranger's
upload stalls past LOCKER_UPLOAD_LEASE, the owner fills the room it held, then the stranger
sends the rest.
"""

import json
import socket
from contextlib import suppress

import pytest

from tests.fixtures.live_uploads import (
    multipart,
    query,
    request,
    start,
    wait_until,
)
from tests.fixtures.multiworker import gunicorn_server, prepare, server_env

MB = 1_000_000
LEASE = 2  # seconds: short, so that the test sees it lapse

SETUP = """
from accounts.models import User
from accounts.services import api_token_create
from files.selectors import folder_get_root
from files.services import folder_create
from sharing.upload_links import upload_link_create
user = User.objects.create_user(username="alice", email="alice@example.com", password="x")
user.quota_bytes = 10_000_000
user.save()
_token, secret = api_token_create(user=user, name="tests")
inbox = folder_create(user=user, parent=folder_get_root(user), name="Inbox")
_link, link_token = upload_link_create(owner=user, folder=inbox, notify=False)
print("TOKEN=" + secret)
print("LINK=" + link_token)
"""


@pytest.fixture
def server(tmp_path):
    data_dir = tmp_path / "data"
    env = server_env(data_dir, "", LOCKER_UPLOAD_LEASE=str(LEASE))
    output = prepare(env, SETUP)
    values = dict(
        line.split("=", 1) for line in output.splitlines() if line.startswith(("TOKEN=", "LINK="))
    )
    with gunicorn_server(env, tmp_path / "access.log", workers=2) as gunicorn:
        yield gunicorn, data_dir, {"Authorization": f"Bearer {values['TOKEN']}"}, values["LINK"]


def _answer(sock: socket.socket, rest: bytes) -> tuple[int, bytes]:
    with suppress(BrokenPipeError, ConnectionResetError):
        sock.sendall(rest)
    answer = b""
    with suppress(ConnectionResetError, TimeoutError):
        while chunk := sock.recv(65536):
            answer += chunk
    sock.close()
    head, _sep, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1."), answer[:200]
    return int(head.split(b" ", 2)[1]), body


def test_a_lapsed_upload_whose_room_was_taken_shows_no_quota_figures(server):
    gunicorn, data_dir, auth, link = server
    head, data, tail, content_type = multipart("big.bin", 9 * MB)
    sock = start(
        gunicorn.base,
        "POST",
        f"/r/{link}/upload",
        {"Content-Type": content_type},
        len(head) + len(data) + len(tail),
        head + data[: 3 * MB],
    )
    wait_until(
        lambda: query(data_dir, "SELECT count(*) FROM files_blob WHERE state = 'writing'")[0][0],
        what="the worker to store the stranger's upload",
    )

    # The stranger stalls; once its lease lapsed, the owner's own upload takes the room.
    def owner_upload() -> bool:
        o_head, o_data, o_tail, o_type = multipart("mine.bin", 5 * MB)
        status, _headers, _body = request(
            gunicorn.base,
            "POST",
            "/api/v1/files/",
            {**auth, "Content-Type": o_type},
            o_head + o_data + o_tail,
        )
        return status == 201

    wait_until(owner_upload, what="the stalled upload's lease to lapse")

    status, body = _answer(sock, data[3 * MB :] + tail)
    assert status == 507
    detail = json.loads(body)["detail"]
    assert detail == "There is no room left for uploads on this link."
    assert "quota" not in detail and "MB" not in detail
    assert query(data_dir, "SELECT name FROM files_file") == [("mine.bin",)]
    assert query(data_dir, "SELECT count(*) FROM files_blob WHERE state = 'writing'") == [(0,)]
