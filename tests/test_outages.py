"""Outages of a real server's dependencies: each answers 503 with Retry-After, naming the part in
plain words (JSON on the API and the tus routes, a page on the web and the share routes), keeps
nothing half-done, and the service answers again as soon as the part is back, without a restart.

The faults are real: a TCP proxy between the running gunicorn and PostgreSQL, Redis or S3 is cut
(tests/fixtures/outages.py). A damaged stored segment is a byte flipped in the real S3 object.
"""

import base64
import hashlib

import pytest

from tests.fixtures.outages import SHARE_PASSWORD, multipart

TUS = {"Tus-Resumable": "1.0.0"}
WORDS = {
    "database": "database",
    "cache": "cache",
    "broker": "task queue",
    "storage": "file storage",
}


def assert_unavailable(answer, part: str, *, json: bool) -> None:
    assert answer.status == 503, (answer.status, answer.text[:500])
    assert int(answer.headers["retry-after"]) > 0
    if json:
        assert answer.headers["content-type"] == "application/json"
        body = answer.json()
        assert body["code"] == "service_unavailable"
        assert body["unavailable"] == part
        assert WORDS[part] in body["detail"]
    else:
        assert answer.headers["content-type"].startswith("text/html")
        assert WORDS[part] in answer.text
        assert "Temporarily unavailable" in answer.text


def tus_create(server, length: int, **headers):
    name = base64.b64encode(b"chunked.bin").decode()
    return server.request(
        "POST",
        "/api/v1/tus/",
        api=True,
        headers={**TUS, "Upload-Length": str(length), "Upload-Metadata": f"filename {name}"},
        **headers,
    )


def health(server):
    answer = server.get("/healthz")
    return answer.status, answer.json().get("failing", [])


def counts(server) -> dict:
    (row,) = server.sql(
        "SELECT (SELECT count(*) FROM files_file), (SELECT count(*) FROM files_blob),"
        " (SELECT count(*) FROM files_uploadreservation),"
        " (SELECT used_bytes FROM accounts_user WHERE username = 'alice')"
    )
    return dict(zip(["files", "blobs", "reservations", "used"], row, strict=True))


def test_database_outage_answers_503_naming_the_database(outage_server):
    server = outage_server
    with server.cut("database"):
        assert_unavailable(server.get("/api/v1/files/", api=True), "database", json=True)
        # The web page fails while the session loads (a middleware): the page still says why.
        assert_unavailable(server.get("/", session=True), "database", json=False)
        share_page = server.get(f"/s/{server.share_token}")
        assert_unavailable(share_page, "database", json=False)
        assert share_page.headers["referrer-policy"] == "no-referrer"
        tus = tus_create(server, 10)
        assert_unavailable(tus, "database", json=True)
        assert tus.headers["tus-resumable"] == "1.0.0"
        assert_unavailable(
            server.request(
                "POST", f"/r/{server.upload_link_token}/tus/", headers={**TUS, "Upload-Length": "1"}
            ),
            "database",
            json=True,
        )
        assert health(server) == (503, ["database"])
    assert server.get("/api/v1/files/", api=True).status == 200
    assert server.get("/", session=True).status == 200
    assert health(server) == (200, [])


def test_cache_outage_answers_503_naming_the_cache(outage_server):
    server = outage_server
    with server.cut("cache"):
        # Every API request is counted by the rate limits, kept in the cache.
        assert_unavailable(server.get("/api/v1/files/", api=True), "cache", json=True)
        # A valid link's page needs no cache; unknown tokens are throttled in the cache, so
        # they fail closed with the 503 (the password form's POST too: tests/security).
        assert server.get(f"/s/{server.share_token}").status == 200
        assert_unavailable(server.get(f"/s/{'x' * len(server.share_token)}"), "cache", json=False)
        assert health(server) == (503, ["cache"])
    assert server.get("/api/v1/files/", api=True).status == 200
    assert health(server) == (200, [])


def test_storage_outage_answers_503_and_keeps_no_partial_upload(outage_server):
    server = outage_server
    intact = server.files["intact.bin"]["id"]
    before, stored_before = counts(server), server.stored_names()
    body, content_type = multipart("new.bin", b"x" * 300_000)
    with server.cut("storage"):
        assert_unavailable(
            server.get(f"/api/v1/files/{intact}/content", api=True), "storage", json=True
        )
        # A share download: the page for a browser, JSON for a script (docs/api-errors.md).
        download = f"/s/{server.share_token}/download"
        unlocked = {"X-Share-Password": SHARE_PASSWORD}
        browser = {**unlocked, "Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
        assert_unavailable(server.get(download, headers=browser), "storage", json=False)
        script = server.get(download, headers=unlocked)
        assert_unavailable(script, "storage", json=True)
        assert script.json()["code"] == "service_unavailable"
        upload = server.request(
            "POST", "/api/v1/files/", api=True, body=body, headers={"Content-Type": content_type}
        )
        assert_unavailable(upload, "storage", json=True)
        link_upload = server.request(
            "POST",
            f"/r/{server.upload_link_token}/upload",
            body=body,
            headers={"Content-Type": content_type},
        )
        assert_unavailable(link_upload, "storage", json=True)
        assert link_upload.headers["referrer-policy"] == "no-referrer"
        assert_unavailable(tus_create(server, 10), "storage", json=True)
        assert health(server) == (503, ["storage"])
    # Nothing of the refused uploads was kept: no row, no object, no quota used or reserved.
    assert counts(server) == before
    assert server.stored_names() == stored_before
    content = server.get(f"/api/v1/files/{intact}/content", api=True)
    assert content.status == 200
    assert content.body == server.data
    assert health(server) == (200, [])


def test_broker_outage_keeps_uploads_and_says_what_cannot_be_done(outage_server):
    server = outage_server
    body, content_type = multipart("while-the-broker-is-down.bin", b"y" * 1000)
    with server.cut("broker"):
        assert health(server) == (503, ["broker"])
        # The file is stored (its processing task is queued again by the requeue job).
        upload = server.request(
            "POST", "/api/v1/files/", api=True, body=body, headers={"Content-Type": content_type}
        )
        assert upload.status == 201, upload.text
        content = server.get(f"/api/v1/files/{upload.json()['id']}/content", api=True)
        assert content.body == b"y" * 1000
        # A password-reset e-mail would be lost: the page says so instead of pretending.
        form = server.get("/accounts/password_reset/")
        csrf = form.headers["set-cookie"].split("csrftoken=", 1)[1].split(";", 1)[0]
        reset = server.request(
            "POST",
            "/accounts/password_reset/",
            body=f"email=alice%40example.com&csrfmiddlewaretoken={csrf}".encode(),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Cookie": f"csrftoken={csrf}",
            },
        )
        assert_unavailable(reset, "broker", json=False)
    assert health(server) == (200, [])


@pytest.fixture
def damaged(outage_server):
    """`damaged.bin` with one byte flipped in its second segment (of 1 MiB), in S3 itself."""
    server = outage_server
    name = server.files["damaged.bin"]["key"]
    object_name = f"{name[0:2]}/{name[2:4]}/{name}"
    client = server.s3.client()
    stored = bytearray(client.get_object(Bucket=server.bucket, Key=object_name)["Body"].read())
    position = 16 + (1024 * 1024 + 16) + 100  # header, segment 0 and its tag, into segment 1
    stored[position] ^= 0xFF
    client.put_object(Bucket=server.bucket, Key=object_name, Body=bytes(stored))
    return server


def test_range_request_on_a_damaged_segment_answers_the_json_error(damaged):
    server = damaged
    file_id = server.files["damaged.bin"]["id"]
    path = f"/api/v1/files/{file_id}/content"
    answer = server.get(path, api=True, headers={"Range": "bytes=1048676-1048775"})
    assert answer.status == 500
    assert answer.headers["content-type"] == "application/json"
    assert "damaged" in answer.json()["detail"]
    # The bytes that are intact are still served.
    intact = server.get(path, api=True, headers={"Range": "bytes=0-99"})
    assert intact.status == 206
    assert intact.body == server.data[:100]
    assert hashlib.sha256(intact.body).hexdigest() == hashlib.sha256(server.data[:100]).hexdigest()
