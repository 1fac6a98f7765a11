"""A tus request that loses the database half-way keeps nothing it cannot account for (issue 12,
found by bench/soak.py).

Against the real server (gunicorn, PostgreSQL, the SeaweedFS S3 server): the database connection
of the request dies at an exact statement, as in an outage or a crash, through a trigger that
terminates its own backend (`pg_terminate_backend(pg_backend_pid())`). Then:

- a creation that dies between reserving the quota and recording the upload gives the quota
  back within the upload lease, and the cleanups leave no blob and no stored object;
- a completion that dies after publishing the object but before recording the file is finished
  by the client's next HEAD (tus clients take a full offset as done): the file appears,
  byte-exact, once;
- a completion whose storage fails after the last offset is recorded (S3 cut between recording
  it and publishing the object) is finished by the next HEAD once S3 is back;
- a PATCH on S3 that dies after storing its bytes (a part, the stage object) but before
  recording the new offset leaves the upload resumable at its last recorded offset: the client
  resumes, the file is byte-exact, and the cleanups leave no stray stage object or unfinished
  multipart upload.
"""

import base64
import hashlib
import os
import secrets
import time
from urllib.parse import urlsplit

import pytest

from tests.fixtures.live_uploads import request, setup_script, token_from
from tests.fixtures.multiworker import gunicorn_server, manage, prepare, server_env
from tests.fixtures.postgres import fresh_postgres_database
from tests.fixtures.proxy import Proxy

MiB = 1024 * 1024
LEASE = 2  # seconds, LOCKER_UPLOAD_LEASE and LOCKER_TUS_LOCK_LEASE: short, so that they lapse
DIE = (
    "CREATE OR REPLACE FUNCTION test_connection_dies() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN PERFORM pg_terminate_backend(pg_backend_pid()); RETURN NEW; END $$"
)
PAUSE = (
    "CREATE OR REPLACE FUNCTION test_connection_pauses() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN PERFORM pg_sleep(3); RETURN NEW; END $$"
)


@pytest.fixture
def server(s3_server, tmp_path):
    with fresh_postgres_database("locker_lost_db", needed_by="These tests") as database:
        bucket = f"lost-db-{secrets.token_hex(4)}"
        s3_server.client().create_bucket(Bucket=bucket)
        storage = Proxy("127.0.0.1", urlsplit(s3_server.endpoint_url).port)
        env = server_env(
            tmp_path / "data",
            "",
            DATABASE_URL=database.url(),
            **s3_server.locker_env(bucket, endpoint_url=f"http://127.0.0.1:{storage.port}"),
            LOCKER_UPLOAD_LEASE=f"{LEASE}s",
            LOCKER_TUS_LOCK_LEASE=f"{LEASE}s",
        )
        try:
            token = token_from(prepare(env, setup_script(quota=100 * MiB)))
            with gunicorn_server(env, tmp_path / "access.log", workers=1) as gunicorn:
                yield Server(
                    gunicorn.base, env, database.dsn, s3_server.client(), bucket, token, storage
                )
        finally:
            storage.close()


class Server:
    def __init__(self, base, env, dsn, s3, bucket, token, storage):
        self.base, self.env, self.dsn, self.s3, self.bucket = base, env, dsn, s3, bucket
        self.storage = storage  # the proxy in front of S3
        self.auth = {"Authorization": f"Bearer {token}", "Tus-Resumable": "1.0.0"}

    def sql(self, query: str):
        import psycopg

        with psycopg.connect(self.dsn, autocommit=True) as connection:
            cursor = connection.execute(query)
            return cursor.fetchall() if cursor.description else None

    def die_on(self, event: str, when: str = "", table: str = "files_tusupload") -> None:
        """From now on a connection dies at `event` on `table` (`when` the condition)."""
        self.sql(DIE)
        self.sql(
            f"CREATE TRIGGER test_connection_dies {event} ON {table} FOR EACH ROW "
            f"{f'WHEN ({when})' if when else ''} EXECUTE FUNCTION test_connection_dies()"
        )
        self.table = table

    def heal(self) -> None:
        self.sql(f"DROP TRIGGER test_connection_dies ON {self.table}")

    def cleanups(self) -> None:
        """The housekeeping a deployment runs, without grace periods."""
        manage(self.env, "cleanuppartialuploads")
        manage({**self.env, "LOCKER_ORPHAN_GRACE_HOURS": "0"}, "cleanuporphans")

    def stored(self) -> tuple[list[str], list[str]]:
        """(object names, names with an unfinished multipart upload) in the bucket."""
        objects = self.s3.list_objects_v2(Bucket=self.bucket).get("Contents", [])
        uploads = self.s3.list_multipart_uploads(Bucket=self.bucket).get("Uploads", [])
        return [item["Key"] for item in objects], [item["Key"] for item in uploads]

    def create(self, length: int):
        name = base64.b64encode(b"data.bin").decode()
        return request(
            self.base,
            "POST",
            "/api/v1/tus/",
            {**self.auth, "Upload-Length": str(length), "Upload-Metadata": f"filename {name}"},
        )

    def patch(self, path: str, offset: int, chunk: bytes):
        return request(
            self.base,
            "PATCH",
            path,
            {
                **self.auth,
                "Upload-Offset": str(offset),
                "Content-Type": "application/offset+octet-stream",
            },
            chunk,
        )


def _wait_for(predicate, what: str, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.2)
    pytest.fail(f"gave up waiting for {what}")


def test_a_creation_that_loses_the_database_gives_the_quota_back_and_keeps_no_bytes(server):
    server.die_on("BEFORE INSERT")
    status, _headers, body = server.create(5 * MiB)
    server.heal()
    assert status == 503, body

    # The quota comes back within the upload lease, without any job.
    _wait_for(
        lambda: (
            server.sql("SELECT count(*) FROM files_uploadreservation WHERE expires_at > now()")
            == [(0,)]
        ),
        "the reservation to stop counting",
    )
    server.cleanups()
    assert server.sql("SELECT count(*) FROM files_uploadreservation") == [(0,)]
    assert server.sql("SELECT count(*) FROM files_blob") == [(0,)]
    assert server.stored() == ([], [])


def test_a_patch_on_s3_that_loses_the_database_after_storing_resumes_byte_exact(server):
    data = os.urandom(14 * MiB + 12345)
    status, headers, body = server.create(len(data))
    assert status == 201, body
    path = urlsplit(headers["Location"]).path
    status, _headers, body = server.patch(path, 0, data[: 3 * MiB])
    assert status == 204, body

    # This chunk fills the first S3 part (8 MiB) and leaves the rest in a new stage object; the
    # database dies as the new offset is recorded.
    server.die_on("BEFORE UPDATE", 'NEW."offset" <> OLD."offset"')
    status, _headers, body = server.patch(path, 3 * MiB, data[3 * MiB : 9 * MiB])
    server.heal()
    assert status == 503, body

    def resumed():
        status, headers, _body = request(server.base, "HEAD", path, server.auth)
        assert status == 200
        offset = int(headers["Upload-Offset"])
        status, headers, body = server.patch(path, offset, data[offset:])
        return (status, headers, body) if status != 423 else None  # the lease lapses first

    status, headers, body = _wait_for(resumed, "the upload's write lease to lapse")
    assert status == 204, body
    file_id = headers["Locker-File-Id"]
    status, _headers, content = request(
        server.base, "GET", f"/api/v1/files/{file_id}/content", server.auth
    )
    assert status == 200
    assert hashlib.sha256(content).hexdigest() == hashlib.sha256(data).hexdigest()

    server.cleanups()
    (key,) = server.sql("SELECT storage_key FROM files_blob")[0]
    objects, unfinished = server.stored()
    assert [name.rsplit("/", 1)[1] for name in objects] == [key]  # no stage object left
    assert unfinished == []


def test_a_completion_that_loses_the_database_is_finished_by_the_next_head(server):
    data = os.urandom(3 * MiB + 777)
    status, headers, body = server.create(len(data))
    assert status == 201, body
    path = urlsplit(headers["Location"]).path
    status, _headers, body = server.patch(path, 0, data[: 2 * MiB])
    assert status == 204, body

    # The last chunk is stored and the object published; the database dies as the file row
    # is inserted.
    server.die_on("BEFORE INSERT", table="files_file")
    status, _headers, body = server.patch(path, 2 * MiB, data[2 * MiB :])
    server.heal()
    assert status == 503, body

    def finished():
        status, headers, _body = request(server.base, "HEAD", path, server.auth)
        assert status == 200
        assert headers["Upload-Offset"] == str(len(data))
        return headers.get("Locker-File-Id")  # none while the dead request's lease lasts

    file_id = _wait_for(finished, "a HEAD to finish the upload")
    status, _headers, content = request(
        server.base, "GET", f"/api/v1/files/{file_id}/content", server.auth
    )
    assert status == 200
    assert hashlib.sha256(content).hexdigest() == hashlib.sha256(data).hexdigest()
    assert server.sql("SELECT count(*), sum(size) FROM files_file") == [(1, len(data))]
    assert server.sql("SELECT used_bytes FROM accounts_user") == [(len(data),)]
    assert server.sql("SELECT count(*) FROM files_uploadreservation") == [(0,)]
    server.cleanups()
    (key,) = server.sql("SELECT storage_key FROM files_blob")[0]
    objects, unfinished = server.stored()
    assert [name.rsplit("/", 1)[1] for name in objects] == [key]
    assert unfinished == []


def test_a_completion_whose_storage_fails_after_the_last_offset_is_finished_by_the_next_head(
    server,
):
    import threading

    data = os.urandom(10 * MiB + 4321)  # a multipart upload on S3, a short last segment
    status, headers, body = server.create(len(data))
    assert status == 201, body
    path = urlsplit(headers["Location"]).path
    status, _headers, body = server.patch(path, 0, data[: 9 * MiB])
    assert status == 204, body

    # Recording the full offset waits (a trigger) while the test cuts S3: publishing the
    # object then fails.
    server.sql(PAUSE)
    server.sql(
        "CREATE TRIGGER test_connection_pauses BEFORE UPDATE ON files_tusupload FOR EACH ROW "
        'WHEN (NEW."offset" = NEW.length AND OLD."offset" <> NEW."offset") '
        "EXECUTE FUNCTION test_connection_pauses()"
    )
    answers = []
    last = threading.Thread(
        target=lambda: answers.append(server.patch(path, 9 * MiB, data[9 * MiB :]))
    )
    last.start()
    paused = (
        "SELECT pid FROM pg_stat_activity WHERE wait_event = 'PgSleep' "
        "AND query LIKE '%files_tusupload%'"
    )
    _wait_for(lambda: server.sql(paused), "the last PATCH to record its offset")
    server.storage.cut()
    last.join(60)
    server.storage.restore()
    server.sql("DROP TRIGGER test_connection_pauses ON files_tusupload")
    status, _headers, body = answers[0]
    assert status == 503, body

    def finished():
        status, headers, body = request(server.base, "HEAD", path, server.auth)
        assert status == 200, body
        return headers.get("Locker-File-Id")

    file_id = _wait_for(finished, "a HEAD to finish the upload")
    status, _headers, content = request(
        server.base, "GET", f"/api/v1/files/{file_id}/content", server.auth
    )
    assert status == 200
    assert hashlib.sha256(content).hexdigest() == hashlib.sha256(data).hexdigest()
    server.cleanups()
    (key,) = server.sql("SELECT storage_key FROM files_blob")[0]
    objects, unfinished = server.stored()
    assert [name.rsplit("/", 1)[1] for name in objects] == [key]
    assert unfinished == []
