"""Several nodes (issue 15): two Locker nodes, each its own gunicorn and Celery worker in a network
namespace of its own, sharing one PostgreSQL, one Redis (broker and cache), one S3 server
(SeaweedFS) and one clamd, with the same secrets (tests/fixtures/nodes.py has the set-up).

The test process is the clients and the load balancer: it sends each request to the node it
chooses, with no stickiness at all, so what one node began another finishes. The pair is
started once for the module; node A is killed by the last test.
"""

import base64
import hashlib
import json
import os
import re
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar

import psycopg
import pytest

from tests.fixtures.nodes import (
    Node,
    api,
    http,
    kill_namespace,
    multipart_body,
    namespace_pids,
    node_pair,
    wait_for,
)
from tests.workers import media
from tests.workers.conftest import EICAR

MB = 1_000_000
MiB = 1024 * 1024
QUOTA = 100 * MB
LEASE = 3  # seconds (LOCKER_UPLOAD_LEASE): what a dead request held comes back this soon
PASSWORD_LIMIT = 4  # link-password attempts per window
LOGIN_LIMIT = 4  # failed log-ins before the lock-out

pytestmark = pytest.mark.s3


@pytest.fixture(scope="module")
def pair():
    extra = {
        "LOCKER_UPLOAD_LEASE": str(LEASE),
        "LOCKER_SHARE_PASSWORD_ATTEMPTS": str(PASSWORD_LIMIT),
        "LOCKER_LOGIN_FAILURE_LIMIT": str(LOGIN_LIMIT),
    }
    with node_pair(quota=QUOTA, extra=extra) as pair:
        yield pair


def _upload(node: Node, token: str, name: str, data: bytes, content_type=None) -> dict:
    body, multipart_type = multipart_body(name, data, content_type or "application/octet-stream")
    status, _headers, answer = http(
        "POST",
        f"{node.base}/api/v1/files/",
        body=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": multipart_type},
    )
    assert status == 201, (node.name, status, answer[:500])
    return json.loads(answer)


def _content(node: Node, token: str, file_id: str) -> bytes:
    status, _headers, body = http(
        "GET",
        f"{node.base}/api/v1/files/{file_id}/content",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert status == 200, (node.name, status, body[:300])
    return body


def _wait_processed(node: Node, token: str, file_id: str, state: str = "ready") -> dict:
    def done():
        detail = api(node, token, "GET", f"/api/v1/files/{file_id}/")
        return detail if detail["state"] == state and not detail["processing"] else None

    return wait_for(done, 60, f"file {file_id} to become {state}")


def _names(node: Node, token: str) -> set[str]:
    return {
        row["name"] for row in api(node, token, "GET", "/api/v1/files/?page_size=200")["results"]
    }


def _rows(pair, sql: str, *args) -> list[tuple]:
    with psycopg.connect(pair.database_url) as connection:
        return connection.execute(sql, args).fetchall()


# --- 1. upload on A, download on B -------------------------------------------------------------


def test_a_file_uploaded_through_a_downloads_byte_exact_through_b_and_so_does_its_share(pair):
    data = os.urandom(3 * MiB + 17)  # several encrypted segments, on S3
    created = _upload(pair.a, pair.token, "report.bin", data)
    assert created["sha256"] == hashlib.sha256(data).hexdigest()

    assert _content(pair.b, pair.token, created["id"]) == data
    # Shares need a scanned file: either node's worker scans it, with the one clamd.
    _wait_processed(pair.b, pair.token, created["id"])

    share = api(pair.a, pair.token, "POST", "/api/v1/shares/", {"file": created["id"]}, expect=201)
    path = urllib.parse.urlsplit(share["url"]).path  # LOCKER_BASE_URL names A; B gets the path
    status, _headers, page = http("GET", f"{pair.b.base}{path}")
    assert status == 200 and b"report.bin" in page
    status, headers, body = http("GET", f"{pair.b.base}{path}/download")
    assert status == 200, body[:300]
    assert body == data
    assert "report.bin" in headers["Content-Disposition"]


# --- 2. tus across nodes -----------------------------------------------------------------------


def _tus(node: Node, token: str, method: str, path: str, headers=None, body=None):
    return http(
        method,
        f"{node.base}{path}",
        body=body,
        headers={"Authorization": f"Bearer {token}", "Tus-Resumable": "1.0.0", **(headers or {})},
    )


def test_a_tus_upload_begun_on_a_is_finished_on_b_without_sticky_sessions(pair):
    data = os.urandom(4 * MiB + 123)
    chunks = [data[i : i + MiB] for i in range(0, len(data), MiB)]  # 5 PATCHes
    filename = base64.b64encode(b"resumed.bin").decode()
    status, headers, body = _tus(
        pair.a,
        pair.token,
        "POST",
        "/api/v1/tus/",
        {"Upload-Length": str(len(data)), "Upload-Metadata": f"filename {filename}"},
    )
    assert status == 201, body
    path = urllib.parse.urlsplit(headers["Location"]).path

    # Each chunk goes to the other node than the one before, as a round-robin balancer sends
    # them; each node first learns the offset the other recorded.
    nodes = [pair.a, pair.b]
    offset = 0
    for index, chunk in enumerate(chunks):
        node = nodes[index % 2]
        status, headers, _ = _tus(node, pair.token, "HEAD", path)
        assert status == 200 and int(headers["Upload-Offset"]) == offset, (node.name, headers)
        status, headers, body = _tus(
            node,
            pair.token,
            "PATCH",
            path,
            {"Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"},
            chunk,
        )
        assert status == 204, (node.name, status, body[:300])
        offset += len(chunk)
        assert int(headers["Upload-Offset"]) == offset
    # 5 chunks: A, B, A, B, A; finished on B with the HEAD that completes.
    status, headers, _ = _tus(pair.b, pair.token, "HEAD", path)
    assert status == 200 and int(headers["Upload-Offset"]) == len(data)

    (row,) = [
        r
        for r in api(pair.b, pair.token, "GET", "/api/v1/files/")["results"]
        if r["name"] == "resumed.bin"
    ]
    assert row["size"] == len(data) and row["sha256"] == hashlib.sha256(data).hexdigest()
    assert _content(pair.b, pair.token, row["id"]) == data
    assert _content(pair.a, pair.token, row["id"]) == data
    _wait_processed(pair.a, pair.token, row["id"])  # nothing left in the queue for the next test


# --- 3. B's worker processes what A received ---------------------------------------------------


@pytest.fixture
def a_without_worker(pair):
    """Node A's worker stopped (a warm shutdown) for the test, and started again after it."""
    pair.a.stop_worker()
    yield
    pair.a.start_worker()
    wait_for(pair.a.worker_ready, 60, "node a's worker to start again")


def test_files_uploaded_on_a_are_scanned_and_thumbnailed_by_bs_worker(pair, a_without_worker):
    b_log = pair.b.log("worker")
    before = b_log.stat().st_size
    photo = _upload(pair.a, pair.token, "photo.jpg", media.jpeg((800, 600)), "image/jpeg")
    virus = _upload(pair.a, pair.token, "eicar.com", EICAR)

    photo = _wait_processed(pair.a, pair.token, photo["id"], "ready")
    assert photo["thumbnail"], photo
    virus = _wait_processed(pair.a, pair.token, virus["id"], "infected")
    assert "Locker.Test.EICAR" in virus["state_reason"]

    # The thumbnail B made (stored in the shared bucket) is served by A.
    status, headers, image = http(
        "GET",
        f"{pair.a.base}{photo['thumbnail']}?size=256",
        headers={"Authorization": f"Bearer {pair.token}"},
    )
    assert status == 200 and headers["Content-Type"].startswith("image/") and image
    # B's worker did both (A had none running): its log has the two tasks since the uploads.
    lines = b_log.read_bytes()[before:].decode(errors="replace")
    assert lines.count("Task files.tasks.process_file[") >= 4, lines  # received, succeeded ×2
    assert len(re.findall(r"Task files\.tasks\.process_file\[[^]]+\] succeeded", lines)) == 2


# --- 4. throttles shared ----------------------------------------------------------------------


def _post_form(url: str, fields: dict, opener=None) -> int:
    request = urllib.request.Request(url, data=urllib.parse.urlencode(fields).encode())
    request.add_header("Referer", url)
    try:
        with (opener or urllib.request.build_opener()).open(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_link_password_attempts_on_a_and_b_count_together(pair):
    file = _upload(pair.a, pair.token, "locked.txt", b"behind a password")
    _wait_processed(pair.a, pair.token, file["id"])
    share = api(
        pair.a,
        pair.token,
        "POST",
        "/api/v1/shares/",
        {"file": file["id"], "password": "right password"},
        expect=201,
    )
    path = urllib.parse.urlsplit(share["url"]).path
    # Alternating nodes: three attempts each, six in all. Counted per node, neither would reach
    # the limit of four; counted together, the fifth is refused.
    nodes = (pair.a, pair.b)
    statuses = [_post_form(f"{nodes[i % 2].base}{path}", {"password": "wrong"}) for i in range(6)]
    assert statuses == [403] * PASSWORD_LIMIT + [429] * 2, statuses
    for node in (pair.a, pair.b):
        assert _post_form(f"{node.base}{path}", {"password": "right password"}) == 429


class _Browser:
    """A browser on one node: its cookies and the log-in form's CSRF token."""

    def __init__(self, node: Node):
        self.url = f"{node.base}/accounts/login/"
        self.jar = CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        page = self.opener.open(self.url, timeout=30).read().decode()
        self.csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)

    def login(self, password: str, username: str = "victim") -> int:
        fields = {"username": username, "password": password, "csrfmiddlewaretoken": self.csrf}
        return _post_form(self.url, fields, self.opener)

    def cookies(self) -> str:
        return "; ".join(f"{cookie.name}={cookie.value}" for cookie in self.jar)


def test_failed_log_ins_on_a_and_b_count_together(pair):
    browsers = [_Browser(pair.a), _Browser(pair.b)]
    statuses = [browsers[i % 2].login("wrong guess") for i in range(6)]
    # The form answers 200 to a wrong password until the shared count reaches the limit (the
    # attempt that reaches it is answered with the lock-out); per node, three each, never.
    assert statuses == [200] * (LOGIN_LIMIT - 1) + [429] * 3, statuses
    assert [browser.login("right-pass-42") for browser in browsers] == [429, 429]


def test_a_session_signed_in_on_a_is_signed_in_on_b(pair):
    """Sessions are signed with SECRET_KEY: with the same key on every node, a balancer may send
    a signed-in browser's next request to any node."""
    browser = _Browser(pair.a)
    assert browser.login("alice-password-1", username="alice") == 200  # after the redirect
    assert "sessionid=" in browser.cookies()
    status, _headers, body = http(
        "GET", f"{pair.b.base}/api/v1/me/", headers={"Cookie": browser.cookies()}
    )
    assert status == 200, body[:300]
    assert json.loads(body)["username"] == "alice"


# --- 5. A killed mid-upload ---------------------------------------------------------------------


class _Watch(threading.Thread):
    """Requests to node B, one after the other, until stopped: every answer must be right."""

    def __init__(self, node: Node, token: str, file_id: str, data: bytes):
        super().__init__(daemon=True)
        self.node, self.token, self.file_id, self.data = node, token, file_id, data
        self.results: list[tuple[str, int, bool]] = []
        self.stopping = threading.Event()

    def run(self):
        auth = {"Authorization": f"Bearer {self.token}"}
        while not self.stopping.is_set():
            status, _h, _b = http("GET", f"{self.node.base}/healthz", timeout=10)
            self.results.append(("healthz", status, status == 200))
            status, _h, body = http(
                "GET", f"{self.node.base}/api/v1/files/{self.file_id}/content", headers=auth
            )
            self.results.append(("download", status, status == 200 and body == self.data))

    def stop(self) -> list[tuple[str, int, bool]]:
        self.stopping.set()
        self.join(timeout=30)
        return self.results


def _me(node: Node, token: str) -> dict:
    return api(node, token, "GET", "/api/v1/me/")


def test_node_a_killed_mid_upload_leaves_nothing_half_written_and_b_serves_throughout(pair):
    small = os.urandom(200_000)
    kept = _upload(pair.b, pair.token, "kept.bin", small)
    s3 = pair.s3.client()
    used = _me(pair.b, pair.token)["used"]

    # A large streaming upload on A that takes all the quota left but 500 kB (its reservation),
    # of which 12 MB are sent at once (the first 8 MiB part is in S3 then), then more while A
    # lives.
    boundary = "node-a-dies"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    length = QUOTA - used - 500_000
    sock = socket.create_connection((pair.a.address, 8000), timeout=30)
    request_head = (
        "POST /api/v1/files/ HTTP/1.1\r\n"
        f"Host: {pair.a.address}:8000\r\nAuthorization: Bearer {pair.token}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: {length}\r\nConnection: close\r\n\r\n"
    ).encode()
    sock.sendall(request_head + head + os.urandom(12 * MB))
    sending = threading.Event()
    sending.set()

    def keep_sending():
        chunk = os.urandom(64 * 1024)
        while sending.is_set():
            try:
                sock.sendall(chunk)
            except OSError:
                return  # A is gone
            time.sleep(0.05)

    sender = threading.Thread(target=keep_sending, daemon=True)
    sender.start()
    writing = wait_for(
        lambda: _rows(pair, "SELECT storage_key FROM files_blob WHERE state = 'writing'"),
        30,
        "node A to store the upload",
    )
    ((storage_key,),) = writing
    wait_for(
        lambda: s3.list_multipart_uploads(Bucket=pair.s3.bucket).get("Uploads"),
        30,
        "the upload's first part in S3",
    )
    assert _rows(pair, "SELECT size FROM files_uploadreservation") == [(length,)]
    # While A's request lives, its reservation holds the quota for B too.
    body, content_type = multipart_body("one-mb.bin", os.urandom(MB))
    refused = http(
        "POST",
        f"{pair.b.base}/api/v1/files/",
        body=body,
        headers={"Authorization": f"Bearer {pair.token}", "Content-Type": content_type},
    )
    assert refused[0] == 507, refused

    watch = _Watch(pair.b, pair.token, kept["id"], small)
    watch.start()
    try:
        killed = kill_namespace(pair.a.namespace)  # the node's power cut: every process, -9
        assert killed and not namespace_pids(pair.a.namespace)
        for process in pair.a.processes.values():
            process.wait(timeout=10)
        sending.clear()
        sock.close()
        assert not pair.a.web_answers()

        # Once the lease lapsed, the quota is back: the same upload fits on B.
        def fits():
            status, _h, answer = http(
                "POST",
                f"{pair.b.base}/api/v1/files/",
                body=body,
                headers={"Authorization": f"Bearer {pair.token}", "Content-Type": content_type},
            )
            assert status in (201, 507), (status, answer[:300])
            return status == 201

        wait_for(fits, 30, "the dead upload's reservation to stop counting")
        # What A left, reclaimed by the jobs beat runs, here run on B.
        output = pair.b.run("cleanuppartialuploads", "--hours", "0")
        assert "Abandoned blobs removed: 1; reservations removed: 1;" in output, output
    finally:
        results = watch.stop()
    assert len(results) >= 4 and all(ok for _what, _status, ok in results), results

    assert _rows(pair, "SELECT count(*) FROM files_blob WHERE state = 'writing'") == [(0,)]
    assert _rows(pair, "SELECT count(*) FROM files_uploadreservation") == [(0,)]
    assert _rows(pair, "SELECT count(*) FROM files_file WHERE name = 'big.bin'") == [(0,)]
    assert "big.bin" not in _names(pair.b, pair.token)
    assert not s3.list_multipart_uploads(Bucket=pair.s3.bucket).get("Uploads")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=pair.s3.bucket).get("Contents", [])]
    assert not [key for key in keys if storage_key in key], keys
    assert _me(pair.b, pair.token)["used"] == used + MB
