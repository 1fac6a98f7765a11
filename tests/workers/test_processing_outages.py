"""Processing outlives outages: a real worker whose S3 or PostgreSQL is cut (a TCP proxy in
between) retries with backoff and finishes the file once the part is back; a task lost while
the broker was down is queued again by `requeuepending`, whatever step was still owed."""

import os
import secrets
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.core.management import call_command
from django.db import connection

from files.models import File, Thumbnail
from files.scanning import CommandScanner
from files.tasks import ProcessingTask
from files.thumbnail_sandbox import render_thumbnails
from storage.reader import iter_content
from tests.fixtures.files import make_file, upload
from tests.fixtures.proxy import Proxy
from tests.workers import media
from tests.workers.conftest import database_url, restore_broker, use_broker, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

SCAN = "cat >/dev/null"  # a scanner that reads everything and finds nothing
RECOVERY = 120  # s: a few retries with backoff after the part comes back, on a busy machine


def _retried(worker) -> bool:
    return " retry: Retry in " in worker.output()


def _finished(file: File) -> bool:
    file.refresh_from_db()
    return file.state == "ready" and file.thumbnail_state == "ready"


def _assert_processed(api, file: File) -> None:
    assert file.processing_due_at is None
    assert Thumbnail.objects.filter(file=file).count() == 2
    response = api.get(f"/api/v1/files/{file.public_id}/thumbnail?size=256")
    assert response.status_code == 200
    item = api.get(f"/api/v1/files/{file.public_id}/").json()
    assert (item["processing"], item["processing_since"]) == (False, None)


@pytest.fixture
def s3_bucket(s3_server, settings):
    """This process's storage on a bucket of its own; returns the worker's settings for it."""
    bucket = f"outage-{secrets.token_hex(6)}"
    s3_server.client().create_bucket(Bucket=bucket)
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {**s3_server.storage_options(""), "bucket_name": bucket},
        },
    }
    settings.LOCKER_STORAGE = "s3"
    return {
        "LOCKER_STORAGE": "s3",
        "LOCKER_S3_BUCKET": bucket,
        "LOCKER_S3_REGION": s3_server.region,
        "LOCKER_S3_ACCESS_KEY_ID": s3_server.access_key,
        "LOCKER_S3_SECRET_ACCESS_KEY": s3_server.secret_key,
    }


@pytest.mark.s3
def test_file_is_scanned_and_thumbnailed_once_s3_comes_back(
    alice, alice_api, s3_server, s3_bucket, start_worker, settings
):
    endpoint = urlsplit(s3_server.endpoint_url)
    with Proxy(endpoint.hostname, endpoint.port) as proxy:
        worker = start_worker(
            env={
                **s3_bucket,
                "LOCKER_S3_ENDPOINT_URL": f"http://127.0.0.1:{proxy.port}",
                "LOCKER_SCANNER": "command",
                "LOCKER_SCAN_COMMAND": SCAN,
            }
        )
        settings.LOCKER_SCANNER = "command"
        settings.LOCKER_SCAN_COMMAND = SCAN
        proxy.cut("reset")  # the worker cannot reach S3; the web process (this one) still can
        response = upload(alice_api, "photo.jpg", media.jpeg((800, 600)))
        assert response.status_code == 201
        file = File.objects.get(public_id=response.json()["id"])
        wait_for(lambda: _retried(worker), timeout=90, what="the worker to retry the file")
        waiting = File.objects.get(pk=file.pk)
        assert waiting.state == "pending"
        assert waiting.processing_due_at > waiting.created_at  # the retry's time was recorded

        proxy.restore()
        wait_for(
            lambda: _finished(file),
            timeout=RECOVERY,
            what=f"the file to be processed; worker log:\n{worker.output()[-3000:]}",
        )
    _assert_processed(alice_api, file)


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the worker reaches PostgreSQL through a proxy (CI)"
)
def test_thumbnail_is_made_once_the_database_comes_back(alice, alice_api, start_worker, settings):
    db = connection.settings_dict
    with Proxy(db.get("HOST") or "127.0.0.1", int(db.get("PORT") or 5432)) as proxy:
        url = urlsplit(database_url())
        netloc = url.netloc.rsplit("@", 1)[0] + "@" if "@" in url.netloc else ""
        proxied = urlunsplit(url._replace(netloc=f"{netloc}127.0.0.1:{proxy.port}"))
        worker = start_worker(env={"DATABASE_URL": proxied, "LOCKER_SCANNER": "none"})
        settings.LOCKER_SCANNER = "none"
        proxy.cut("reset")  # the worker's database connections drop; this process keeps its own
        response = upload(alice_api, "photo.png", media.png((400, 300)))
        assert response.status_code == 201
        file = File.objects.get(public_id=response.json()["id"])
        wait_for(lambda: _retried(worker), timeout=90, what="the worker to retry the file")
        assert File.objects.get(pk=file.pk).thumbnail_state == ""

        proxy.restore()
        wait_for(
            lambda: _finished(file),
            timeout=RECOVERY,
            what=f"the thumbnail to be made; worker log:\n{worker.output()[-3000:]}",
        )
    _assert_processed(alice_api, file)


def test_thumbnail_task_lost_while_the_broker_was_down_is_requeued(
    alice, alice_api, start_worker, settings, capsys
):
    """No scanner: the file is ready at once and only its thumbnail is owed."""
    worker = start_worker(env={"LOCKER_SCANNER": "none"})
    settings.LOCKER_SCANNER = "none"
    previous = use_broker("redis://127.0.0.1:1/0", worker.queue)  # nothing listens there
    try:
        response = upload(alice_api, "photo.png", media.png((400, 300)))
    finally:
        restore_broker(previous)
    assert response.status_code == 201  # the upload is kept; only its task was lost
    file = File.objects.get(public_id=response.json()["id"])
    assert (file.state, file.thumbnail_state) == ("ready", "")

    settings.LOCKER_REQUEUE_PENDING_AFTER = 0
    call_command("requeuepending")
    assert "Queued 1 " in capsys.readouterr().out
    wait_for(
        lambda: _finished(file),
        timeout=60,
        what=f"the requeued thumbnail; worker log:\n{worker.output()[-3000:]}",
    )
    _assert_processed(alice_api, file)
    call_command("requeuepending")
    assert "Queued 0 " in capsys.readouterr().out


# --- S3 failing in the middle of reading a file (this process, S3 through the proxy) ---------


@pytest.fixture
def proxied_s3(s3_server, settings):
    """This process's content storage on the test S3 server, reached through a proxy."""
    endpoint = urlsplit(s3_server.endpoint_url)
    with Proxy(endpoint.hostname, endpoint.port) as proxy:
        options = s3_server.storage_options(f"t-{secrets.token_hex(6)}")
        options["endpoint_url"] = f"http://127.0.0.1:{proxy.port}"
        settings.STORAGES = {
            **settings.STORAGES,
            "default": {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": options},
        }
        settings.LOCKER_STORAGE = "s3"
        yield proxy


def _content_cut_after_first_chunk(file: File, proxy: Proxy):
    """The file's plaintext as a reader gets it, with S3 going away after the first chunk."""
    for index, chunk in enumerate(iter_content(file.blob)):
        yield chunk
        if index == 0:
            proxy.cut("reset")


BIG = 24 * 1024 * 1024  # more than the socket buffers between the proxy and this process hold


@pytest.mark.s3
def test_s3_failing_while_the_renderer_reads_is_retried_not_a_thumbnail_error(alice, proxied_s3):
    file = make_file(alice, "scan.bmp", b"BM" + os.urandom(BIG))
    with pytest.raises(ProcessingTask.autoretry_for):
        render_thumbnails(_content_cut_after_first_chunk(file, proxied_s3), kind="image")


@pytest.mark.s3
def test_s3_failing_while_the_scan_command_reads_leaves_no_scanner_running(
    alice, proxied_s3, tmp_path
):
    pid_file = tmp_path / "scanner.pid"
    scanner = CommandScanner(f"echo $$ > {pid_file}; exec cat >/dev/null", timeout=60)
    file = make_file(alice, "big.bin", os.urandom(BIG))
    with pytest.raises(ProcessingTask.autoretry_for):
        scanner.scan(_content_cut_after_first_chunk(file, proxied_s3))
    pid = int(pid_file.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
