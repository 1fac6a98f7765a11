"""/metrics: Prometheus's text format, readable only as docs/operations.md says, counting uploads,
downloads, requests by route (never by path), scans and Celery tasks, summed over every process
of a real `make run` start.
"""

import socket
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from files.models import UploadReservation
from files.processing import file_process
from sharing.services import share_create
from tests.fixtures.files import make_file, upload
from tests.fixtures.launcher import Launcher, descendants, http, wait_for
from tests.fixtures.multiworker import make_run_web_server, manage, server_env
from tests.tus import helpers as tus
from tests.workers.scanners import write_scanner

REPO = Path(__file__).resolve().parents[1]
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


def parse(text: str) -> dict[tuple[str, frozenset], float]:
    """{(sample name, its labels): value} of one scrape."""
    values = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            values[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return values


def scrape(client, **extra) -> dict[tuple[str, frozenset], float]:
    response = client.get("/metrics", **extra)
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"].startswith("text/plain")
    return parse(response.content.decode())


def value(samples, name: str, **labels) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


# --- Who may read it --------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_direct_request_from_loopback_reads_the_metrics_without_a_token(client, settings):
    settings.LOCKER_METRICS_TOKEN = ""
    samples = scrape(client, REMOTE_ADDR="127.0.0.1")
    assert ("locker_storage_used_bytes", frozenset()) in samples
    assert scrape(client, REMOTE_ADDR="::1")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "headers",
    [
        {"REMOTE_ADDR": "203.0.113.7"},
        {"REMOTE_ADDR": "10.1.2.3"},
        # A reverse proxy on the same host connects from loopback for anyone on the Internet.
        {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "203.0.113.7"},
        {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "127.0.0.1"},
        {"REMOTE_ADDR": "127.0.0.1", "HTTP_FORWARDED": "for=203.0.113.7"},
        {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_REAL_IP": "203.0.113.7"},
    ],
)
def test_without_a_token_other_addresses_and_proxied_requests_get_the_sites_404(
    client, settings, headers
):
    settings.LOCKER_METRICS_TOKEN = ""
    settings.LOCKER_PROXY_COUNT = 1
    response = client.get("/metrics", **headers)
    assert response.status_code == 404
    assert b"locker_" not in response.content
    assert response.content == client.get("/no-such-page", **headers).content


@pytest.mark.django_db
def test_an_allowed_network_reads_the_metrics_and_an_empty_allow_list_admits_nobody(
    client, settings
):
    import ipaddress

    settings.LOCKER_METRICS_TOKEN = ""
    settings.LOCKER_METRICS_ALLOW = [ipaddress.ip_network("10.0.0.0/8")]
    assert client.get("/metrics", REMOTE_ADDR="10.9.8.7").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 404
    settings.LOCKER_METRICS_ALLOW = []
    assert client.get("/metrics", REMOTE_ADDR="10.9.8.7").status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize("authorization", [None, "Bearer wrong-token", "Basic c2NyYXBlcg==", "s3"])
def test_with_a_token_set_only_the_bearer_token_is_admitted_even_from_loopback(
    client, settings, authorization
):
    settings.LOCKER_METRICS_TOKEN = "s3cret-scrape-token"
    extra = {"HTTP_AUTHORIZATION": authorization} if authorization else {}
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1", **extra).status_code == 404


@pytest.mark.django_db
def test_with_a_token_set_the_bearer_token_reads_the_metrics_from_any_address(client, settings):
    settings.LOCKER_METRICS_TOKEN = "s3cret-scrape-token"
    samples = scrape(
        client,
        REMOTE_ADDR="203.0.113.7",
        HTTP_X_FORWARDED_FOR="198.51.100.1",
        HTTP_AUTHORIZATION="Bearer s3cret-scrape-token",
    )
    assert ("locker_uploads_in_progress", frozenset()) in samples


def _settings_in_a_fresh_process(tmp_path, **env) -> subprocess.CompletedProcess:
    code = "from django.conf import settings as s; print(s.LOCKER_METRICS_TOKEN)"
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={
            "PATH": "/usr/bin:/bin",
            "DJANGO_SETTINGS_MODULE": "locker.settings",
            "LOCKER_DATA_DIR": str(tmp_path / "data"),
            **env,
        },
        capture_output=True,
        text=True,
        check=False,
    )


def test_a_malformed_allow_list_stops_the_start_naming_the_variable_and_the_value(tmp_path):
    done = _settings_in_a_fresh_process(tmp_path, LOCKER_METRICS_ALLOW="127.0.0.1,intranet")
    assert done.returncode != 0
    assert "LOCKER_METRICS_ALLOW holds 'intranet', which is not an IP address" in done.stderr


def test_the_token_can_come_from_a_file(tmp_path):
    (tmp_path / "token").write_text("from-a-file\n")
    done = _settings_in_a_fresh_process(tmp_path, LOCKER_METRICS_TOKEN_FILE=str(tmp_path / "token"))
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[0] == "from-a-file"


@pytest.mark.django_db
def test_a_post_to_the_metrics_is_refused(client):
    assert client.post("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 405


# --- What it counts ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_uploads_and_downloads_move_the_byte_counters_by_the_bytes_transferred(client, alice_api):
    before = scrape(client)
    form_data = b"f" * 1_500_000  # more than one of the intake's 1 MiB chunks
    created = upload(alice_api, "form.bin", form_data)
    assert created.status_code == 201
    tus_data = b"t" * 300_000
    start = tus.create(alice_api, len(tus_data), name="resumable.bin")
    url = tus.path_of(start)
    assert tus.patch(alice_api, url, 0, tus_data[:100_000]).status_code == 204
    assert tus.patch(alice_api, url, 100_000, tus_data[100_000:]).status_code == 204

    file_id = created.json()["id"]
    whole = alice_api.get(f"/api/v1/files/{file_id}/content")
    assert b"".join(whole.streaming_content) == form_data
    part = alice_api.get(f"/api/v1/files/{file_id}/content", HTTP_RANGE="bytes=0-999")
    assert part.status_code == 206
    assert len(b"".join(part.streaming_content)) == 1000
    assert alice_api.head(f"/api/v1/files/{file_id}/content").status_code == 200  # no body

    after = scrape(client)
    uploaded = "locker_upload_bytes_total"
    downloaded = "locker_download_bytes_total"
    assert value(after, uploaded, protocol="multipart") - value(
        before, uploaded, protocol="multipart"
    ) == len(form_data)
    assert value(after, uploaded, protocol="tus") - value(before, uploaded, protocol="tus") == len(
        tus_data
    )
    assert (
        value(after, downloaded, kind="content") - value(before, downloaded, kind="content")
        == len(form_data) + 1000
    )


@pytest.mark.django_db
def test_each_request_is_counted_once_with_its_status_and_timed(client):
    healthz = {"route": "healthz", "method": "GET"}
    before = scrape(client)
    for _ in range(3):
        assert client.get("/healthz").status_code == 200
    assert client.get("/no-such-page").status_code == 404
    after = scrape(client)
    requests = "locker_http_requests_total"
    latency = "locker_http_request_duration_seconds_count"
    moved = value(after, requests, **healthz, status="200") - value(
        before, requests, **healthz, status="200"
    )
    assert moved == 3
    assert value(after, latency, **healthz) - value(before, latency, **healthz) == 3
    unmatched = {"route": "unmatched", "method": "GET", "status": "404"}
    assert value(after, requests, **unmatched) - value(before, requests, **unmatched) == 1


@pytest.mark.django_db
def test_the_route_label_is_the_url_pattern_never_the_share_token(client, alice):
    file = make_file(alice, "report.txt", b"quarterly numbers\n" * 100)
    _share, token = share_create(owner=alice, file=file)
    assert client.get(f"/s/{token}").status_code == 200
    download = client.get(f"/s/{token}/download")
    assert b"".join(download.streaming_content) == b"quarterly numbers\n" * 100
    assert client.get("/s/not-a-real-token-at-all-000000000").status_code == 404

    response = client.get("/metrics")
    text = response.content.decode()
    assert token not in text
    assert "not-a-real-token" not in text
    samples = parse(text)
    requests = "locker_http_requests_total"
    assert value(samples, requests, route="sharing:share", method="GET", status="200") >= 1
    assert value(samples, requests, route="sharing:share_download", method="GET", status="200")
    assert value(
        samples,
        "locker_http_request_duration_seconds_count",
        route="sharing:share_download",
        method="GET",
    )
    assert value(samples, "locker_download_bytes_total", kind="content") >= 1800


@pytest.mark.django_db
def test_scan_verdicts_are_counted_by_result(client, alice, settings, tmp_path):
    settings.LOCKER_SCANNER = "command"
    settings.LOCKER_SCAN_COMMAND = str(write_scanner(tmp_path))
    before = scrape(client)
    clean = make_file(alice, "clean.txt", b"nothing to see\n")
    infected = make_file(alice, "eicar.com", EICAR)
    assert file_process(file_id=clean.pk) == "ready"
    assert file_process(file_id=infected.pk) == "infected"
    after = scrape(client)
    for result in ("clean", "infected"):
        moved = value(after, "locker_scans_total", result=result) - value(
            before, "locker_scans_total", result=result
        )
        assert moved == 1, result


@pytest.mark.django_db
def test_the_gauges_read_uploads_in_progress_and_storage_used(client, alice, bob):
    make_file(alice, "a.bin", b"a" * 1000)
    make_file(bob, "b.bin", b"b" * 234)
    samples = scrape(client)
    assert value(samples, "locker_storage_used_bytes") == 1234
    assert value(samples, "locker_uploads_in_progress") == 0
    assert tus.create(api_for(alice), 5000, name="open.bin").status_code == 201
    assert UploadReservation.objects.count() == 1
    assert value(scrape(client), "locker_uploads_in_progress") == 1


@pytest.mark.django_db
def test_the_queue_depth_counts_the_messages_waiting_on_the_configured_broker(client, settings):
    """Redis (LLEN) in CI, the filesystem broker's queue files here by default."""
    from locker.celery import app

    queue = f"metrics-test-{uuid.uuid4().hex[:12]}"
    settings.CELERY_TASK_DEFAULT_QUEUE = queue
    assert value(scrape(client), "locker_celery_queue_depth", queue=queue) == 0
    try:
        for _ in range(3):
            app.send_task("files.tasks.process_file", kwargs={"file_id": 0}, queue=queue)
        assert value(scrape(client), "locker_celery_queue_depth", queue=queue) == 3
    finally:
        with app.connection_for_write() as connection:
            connection.default_channel.queue_purge(queue)


def api_for(user):
    from tests.fixtures.users import api_client_for

    return api_client_for(user)


@pytest.mark.django_db
def test_a_scrape_costs_the_same_two_queries_however_much_is_stored(
    client, alice, bob, django_assert_num_queries
):
    client.get("/metrics")  # whatever a first request sets up once
    with django_assert_num_queries(2):
        client.get("/metrics")
    for index in range(5):
        make_file(alice if index % 2 else bob, f"f{index}.txt", b"x" * index)
        tus.create(api_for(alice), 100 + index, name=f"open{index}.bin")
    with django_assert_num_queries(2):
        response = client.get("/metrics")
    assert value(parse(response.content.decode()), "locker_uploads_in_progress") == 5


# --- A real start: web workers and Celery processes counted together --------------------------


def _web_worker_pids(launcher: Launcher) -> set[int]:
    return {pid for pid, _start in descendants(launcher.child("web"))}


def _burst(base: str, count: int) -> int:
    """`count` requests to /healthz at once, each on its own connection; how many got 200."""
    statuses = []

    def one():
        statuses.append(http("GET", f"{base}/healthz")[0])

    threads = [threading.Thread(target=one) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses.count(200)


def _scrape_over_http(launcher: Launcher) -> dict[tuple[str, frozenset], float]:
    status, _headers, text = http("GET", f"{launcher.base}/metrics")
    assert status == 200
    return parse(text.decode())


@pytest.mark.worker
def test_a_scrape_of_make_run_adds_up_every_web_worker_and_the_celery_worker(tmp_path):
    launcher = Launcher(tmp_path, {"LOCKER_WEB_WORKERS": "2"})
    try:
        launcher.prepare()
        token = launcher.create_alice()
        launcher.start()
        launcher.wait_ready()  # it stops at the first /healthz answered 200
        metrics_dir = tmp_path / "data" / "metrics" / socket.gethostname()
        workers = _web_worker_pids(launcher)
        assert len(workers) == 2

        # Requests until both web workers have answered some (each counts in a file of its own,
        # so neither alone knows the total).
        answered = 1
        for _ in range(30):
            answered += _burst(launcher.base, 16)
            counting = {pid for pid in workers if (metrics_dir / f"counter_{pid}.db").exists()}
            if counting == workers:
                break
        assert counting == workers, "both web workers answered requests"

        data = b"launcher bytes " * 10_000
        file_id = launcher.upload(token, "counted.bin", data)["id"]
        wait_for(
            lambda: launcher.api_get(token, f"/api/v1/files/{file_id}/")["state"] == "ready",
            60,
            "the worker to process the upload",
        )
        status, _headers, body = http(
            "GET",
            f"{launcher.base}/api/v1/files/{file_id}/content",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert (status, body) == (200, data)

        task = {"task": "files.tasks.process_file", "outcome": "success"}
        wait_for(
            lambda: value(_scrape_over_http(launcher), "locker_celery_tasks_total", **task),
            30,
            "the Celery worker's task outcome to be counted",
        )
        samples = _scrape_over_http(launcher)
        assert value(samples, "locker_celery_tasks_total", **task) == 1
        requests = "locker_http_requests_total"
        # Each web worker knows only what it answered itself; the scrape knows them all. (At
        # least: a readiness poll that timed out on a busy machine may have been answered late.)
        assert value(samples, requests, route="healthz", method="GET", status="200") >= answered
        assert value(samples, "locker_upload_bytes_total", protocol="multipart") == len(data)
        assert value(samples, "locker_download_bytes_total", kind="content") == len(data)
        assert ("locker_celery_queue_depth", frozenset({("queue", "celery")})) in samples
        assert value(samples, "locker_storage_used_bytes") == len(data)
        assert launcher.interrupt() == 0
    finally:
        launcher.cleanup()


@pytest.mark.worker
def test_gunicorn_started_on_its_own_prepares_a_fresh_metrics_dir_and_sums_its_workers(tmp_path):
    """The container's `web` role runs gunicorn without the launcher: its arbiter empties and
    names the directory before it forks a worker (locker/gunicorn_conf.py)."""
    env = server_env(tmp_path / "data", "")
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    manage(env, "migrate", "--noinput")
    manage(env, "createcachetable")
    metrics_dir = tmp_path / "data" / "metrics" / socket.gethostname()
    metrics_dir.mkdir(parents=True)
    (metrics_dir / "counter_1.db").write_bytes(b"left by a previous run")
    with make_run_web_server(env, tmp_path / "server.log") as server:
        assert not (metrics_dir / "counter_1.db").exists()
        answered = 1  # the fixture waits for one /healthz that answers 200
        for _ in range(30):
            answered += _burst(server.base, 16)
            if len(list(metrics_dir.glob("counter_*.db"))) == 2:
                break
        assert len(list(metrics_dir.glob("counter_*.db"))) == 2, "both workers counted"
        status, _headers, text = http("GET", f"{server.base}/metrics")
        assert status == 200
        samples = parse(text.decode())
    healthz = {"route": "healthz", "method": "GET", "status": "200"}
    # At least: a readiness poll that timed out on a busy machine may have been answered late.
    assert value(samples, "locker_http_requests_total", **healthz) >= answered
