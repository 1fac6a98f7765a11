"""Processes killed between storing content and creating its row leave complete blobs that
nothing references; `cleanuporphans` reclaims them (rows and objects) and nothing else.

- a gunicorn worker SIGKILLed in the middle of a multi-file upload, on local disk and on S3:
  the server is the real product (its own data dir, SQLite, the chosen storage), driven over
  HTTP and through manage.py like an operator would;
- a Celery pool process SIGKILLed while storing a thumbnail (PostgreSQL: a table lock held by
  the test stops the worker right between storing the thumbnail and creating its row).
"""

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection

from files.models import File, Thumbnail
from storage.models import Blob
from tests.fixtures.files import upload
from tests.fixtures.multiworker import REPO, free_port, manage, prepare, server_env
from tests.workers import media
from tests.workers.conftest import database_url, wait_for

SETUP = """
from accounts.models import User
from accounts.services import api_token_create
user = User.objects.create_user(username="alice", email="a@example.com", password="pw-alice-42")
print("TOKEN", api_token_create(user=user, name="test")[1])
"""

STATE = """
import json
from django.db.models import Exists, OuterRef
from files.models import File, Thumbnail
from storage.models import Blob
used = Exists(File.objects.filter(blob=OuterRef("pk"))) | Exists(
    Thumbnail.objects.filter(blob=OuterRef("pk"))
)
print("STATE", json.dumps({
    "unreferenced": Blob.objects.filter(state="complete").exclude(used).count(),
    "writing": Blob.objects.filter(state="writing").count(),
    "files": list(File.objects.values_list("public_id", flat=True).order_by("pk")),
    "thumbnails": Thumbnail.objects.count(),
}, default=str))
"""

PROCESS_ALL = """
from files.models import File
from files.processing import file_process
for file in File.objects.all():
    file_process(file_id=file.pk)
"""

PARTS = 20
# The server reads the body 1 MiB at a time: parts of 1.5 MiB, and 1.25 MiB of the 12th sent,
# make sure it has seen the end of the 11th and not the end of the 12th.
PART_SIZE = 1536 * 1024
SENT_OF_NEXT = 1280 * 1024
KILL_AFTER = 11  # parts complete when the worker dies


class Storage:
    """What the server stores, looked at from outside: the objects dir or the S3 bucket."""

    def __init__(self, kind: str, data_dir: Path, s3=None):
        self.kind = kind
        self.data_dir = data_dir
        self.s3 = s3
        self.bucket = f"crash-{secrets.token_hex(6)}"
        if kind == "s3":
            s3.client().create_bucket(Bucket=self.bucket)

    def env(self) -> dict[str, str]:
        if self.kind == "local":
            return {"LOCKER_STORAGE": "local"}
        return {
            "LOCKER_STORAGE": "s3",
            "LOCKER_S3_BUCKET": self.bucket,
            "LOCKER_S3_ENDPOINT_URL": self.s3.endpoint_url,
            "LOCKER_S3_REGION": self.s3.region,
            "LOCKER_S3_ACCESS_KEY_ID": self.s3.access_key,
            "LOCKER_S3_SECRET_ACCESS_KEY": self.s3.secret_key,
        }

    def finished_objects(self) -> set[str]:
        if self.kind == "local":
            root = self.data_dir / "objects"
            return {
                path.name for path in root.rglob("*") if path.is_file() and "." not in path.name
            }
        keys = set()
        pages = self.s3.client().get_paginator("list_objects_v2").paginate(Bucket=self.bucket)
        for page in pages:
            keys |= {os.path.basename(item["Key"]) for item in page.get("Contents", [])}
        return keys


@contextmanager
def one_worker_server(env: dict[str, str]):
    """gunicorn with one sync worker; yields (base URL, master process)."""
    port = free_port()
    process = subprocess.Popen(
        [
            os.path.join(os.path.dirname(sys.executable), "gunicorn"),
            "locker.wsgi:application",
            f"--bind=127.0.0.1:{port}",
            "--workers=1",
            "--timeout=300",
            "--no-control-socket",
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _answers(f"{base}/healthz"), timeout=60, what="gunicorn to answer")
        yield base, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - loopback
            return True
    except OSError:
        return False


def _children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _multipart(parts: list[tuple[str, bytes]], boundary: str) -> tuple[bytes, list[int]]:
    """The body, and where each part's content starts in it."""
    body, starts = bytearray(), []
    for name, data in parts:
        body += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="{name}"\r\nContent-Type: application/octet-stream\r\n\r\n'
        ).encode()
        starts.append(len(body))
        body += data + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return bytes(body), starts


def _get(base: str, path: str, token: str) -> tuple[int, bytes]:
    request = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - loopback
        return response.status, response.read()


def _state(env) -> dict:
    out = manage(env, "shell", stdin=STATE)
    return json.loads(out.split("STATE ", 1)[1])


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def server_storage(request, tmp_path):
    s3 = request.getfixturevalue("s3_server") if request.param == "s3" else None
    return Storage(request.param, tmp_path / "data", s3)


def test_upload_worker_killed_mid_request_leaves_blobs_that_cleanuporphans_reclaims(
    server_storage, tmp_path
):
    env = server_env(tmp_path / "data", "", LOCKER_ORPHAN_GRACE_HOURS="0", **server_storage.env())
    token = prepare(env, SETUP).split("TOKEN ", 1)[1].strip()
    boundary = secrets.token_hex(12)
    image = media.png((64, 48))
    with one_worker_server(env) as (base, master):
        # A file someone uses, with its thumbnails.
        body, _ = _multipart([("kept.png", image)], boundary)
        request = urllib.request.Request(
            f"{base}/api/v1/files/",
            data=body,
            headers={
                "Authorization": f"Bearer {token}",
                "Content-Type": f"multipart/form-data; boundary={boundary}",
            },
        )
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            kept_id = json.loads(response.read())["id"]
        manage(env, "shell", stdin=PROCESS_ALL)
        before = server_storage.finished_objects()
        assert len(before) == 3  # the file and two thumbnail sizes

        # Twenty files in one request; the worker dies while the 12th arrives.
        parts = [(f"part-{i:02}.bin", os.urandom(PART_SIZE)) for i in range(PARTS)]
        body, starts = _multipart(parts, boundary)
        head = (
            f"POST /api/v1/files/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {token}\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        (worker_pid,) = _children(master.pid)
        client = socket.create_connection(("127.0.0.1", int(base.rsplit(":", 1)[1])))
        try:
            client.sendall(head + body[: starts[KILL_AFTER] + SENT_OF_NEXT])
            wait_for(
                lambda: len(server_storage.finished_objects() - before) == KILL_AFTER,
                timeout=60,
                what=f"{KILL_AFTER} parts to be stored",
            )
            os.kill(worker_pid, signal.SIGKILL)
        finally:
            client.close()

        state = _state(env)
        assert state["unreferenced"] == KILL_AFTER
        assert len(state["files"]) == 1

        out = manage(env, "cleanuporphans")
        assert f"Unreferenced blobs removed: {KILL_AFTER};" in out

        assert server_storage.finished_objects() == before
        state = _state(env)
        assert state["unreferenced"] == 0
        assert state["thumbnails"] == 2
        # The file and its thumbnail are intact (served by the worker gunicorn started anew).
        wait_for(lambda: _children(master.pid), timeout=30, what="a new gunicorn worker")
        status, content = _get(base, f"/api/v1/files/{kept_id}/content", token)
        assert (status, content) == (200, image)
        status, _thumb = _get(base, f"/api/v1/files/{kept_id}/thumbnail?size=256", token)
        assert status == 200
        assert manage(env, "cleanuporphans").startswith("Unreferenced blobs removed: 0;")


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="stopping the worker between two statements needs a PostgreSQL table lock (CI)",
)
@pytest.mark.django_db(transaction=True)
def test_killed_pool_process_leaves_a_thumbnail_blob_that_cleanuporphans_reclaims(
    alice, alice_api, start_worker, settings, capsys
):
    import psycopg

    settings.LOCKER_SCANNER = "none"
    settings.LOCKER_THUMBNAILS = True
    worker = start_worker(pool="prefork", env={"LOCKER_SCANNER": "none"})
    blocker = psycopg.connect(database_url())
    try:
        # Reads pass, inserts wait: the worker stores a thumbnail, then waits for its row.
        blocker.execute("LOCK TABLE files_thumbnail IN SHARE MODE")
        response = upload(alice_api, "photo.png", media.png((300, 200)))
        assert response.status_code == 201
        file = File.objects.get(public_id=response.json()["id"])

        def insert_waiting() -> bool:
            row = blocker.execute(
                "SELECT count(*) FROM pg_locks WHERE NOT granted "
                "AND relation = 'files_thumbnail'::regclass"
            ).fetchone()
            return row[0] > 0

        wait_for(insert_waiting, timeout=60, what="the worker to wait for its thumbnail row")
        (child,) = worker.pool_children()
        os.kill(child, signal.SIGKILL)
    finally:
        blocker.rollback()
        blocker.close()

    # The task comes back (acks_late, reject_on_worker_lost) to a new pool process.
    wait_for(
        lambda: File.objects.get(pk=file.pk).thumbnail_state == "ready",
        timeout=90,
        what=f"the thumbnail to be made again; worker log:\n{worker.output()[-3000:]}",
    )
    thumbnail_blobs = set(Thumbnail.objects.filter(file=file).values_list("blob_id", flat=True))
    assert len(thumbnail_blobs) == 2
    leftover = Blob.objects.filter(state="complete", file__isnull=True, thumbnail__isnull=True)
    assert leftover.count() == 1
    leftover_key = leftover.get().storage_key

    settings.LOCKER_ORPHAN_GRACE_HOURS = 0
    call_command("cleanuporphans")
    assert "Unreferenced blobs removed: 1;" in capsys.readouterr().out
    assert not Blob.objects.filter(storage_key=leftover_key).exists()
    from tests.fixtures.files import stored_keys

    assert leftover_key not in stored_keys()
    assert Blob.objects.filter(pk__in=thumbnail_blobs).count() == 2
    response = alice_api.get(f"/api/v1/files/{file.public_id}/thumbnail?size=1024")
    assert response.status_code == 200
