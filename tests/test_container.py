"""The container image, run for real: the Dockerfile at the root is built in a Docker engine of
the test's own (tests/fixtures/docker.py), then its web, worker and beat containers serve Locker
against the machine's PostgreSQL and Redis and a SeaweedFS S3 server, configured as an operator
would, secrets through `*_FILE` variables. compose.yaml is validated with docker-compose; the
upstream images it names (postgres, redis, seaweedfs, clamav) cannot be pulled here.

Needs root and Debian's docker.io and debootstrap (`.ci/run` installs them); the first build of
a day takes minutes (debootstrap, apt, pip), later ones reuse the cached layers.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.fixtures import docker
from tests.fixtures.launcher import default_env, free_port, http
from tests.fixtures.outages import multipart
from tests.fixtures.postgres import fresh_postgres_database
from tests.workers import media

pytestmark = [pytest.mark.container, pytest.mark.timeout(2400)]

ROLES = ("web", "worker", "beat")
IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG", b"RIFF")  # JPEG, PNG, WebP


@pytest.fixture(scope="module")
def engine(request):
    missing = docker.missing_tools()
    if missing:
        # CI installs docker.io and debootstrap and runs as root; there a skip fails the run.
        pytest.skip(f"The container tests need {', '.join(missing)}.")
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    with docker.docker_engine() as engine:
        started = time.monotonic()
        docker.ensure_base_image(engine)
        based = time.monotonic()
        docker.build_image(engine)
        capture = request.config.pluginmanager.get_plugin("capturemanager")
        if reporter and capture:  # CI's log tells where the minutes went
            with capture.global_and_fixture_disabled():
                reporter.write_line(
                    f"container tests: base image {based - started:.0f} s, "
                    f"image build {time.monotonic() - based:.0f} s"
                )
        yield engine


def _redis_url() -> str:
    """The Redis of the run (the broker's database), else the local one's database 5."""
    for name in ("CELERY_BROKER_URL", "LOCKER_CACHE_URL"):
        url = os.environ.get(name, "")
        if url.startswith("redis://"):
            return url
    return "redis://127.0.0.1:6379/5"


@pytest.fixture
def database():
    """A PostgreSQL database of this test's own, on the run's server; its URL."""
    with fresh_postgres_database("locker_container", needed_by="The container tests") as db:
        yield db.url()


class Deployment:
    """Locker's containers as an operator runs them: one image, a role each, host network."""

    def __init__(self, engine: docker.Engine, env: dict[str, str], secrets_dir: Path):
        self.engine = engine
        self.env = env
        self.secrets_dir = secrets_dir
        self.name = f"locker-ci-{secrets.token_hex(3)}"
        self.port = int(env["PORT"])
        self.base = f"http://127.0.0.1:{self.port}"

    def _run_args(self, role: str) -> list[str]:
        args = ["--network=host", "-v", f"{self.secrets_dir}:/run/secrets:ro"]
        args += ["-v", f"{self.name}-{role}-data:/data"]
        for key, value in self.env.items():
            args += ["-e", f"{key}={value}"]
        return args

    def migrate(self) -> str:
        done = self.engine.run(
            "run",
            "--rm",
            "--name",
            f"{self.name}-migrate",
            *self._run_args("migrate"),
            docker.IMAGE,
            "migrate",
            timeout=300,
        )
        return done.stdout + done.stderr

    def start(self) -> None:
        for role in ROLES:
            self.engine.run(
                "run",
                "--detach",
                "--name",
                f"{self.name}-{role}",
                # The image's health check, run often enough for a test to wait on it.
                "--health-interval=2s",
                "--health-start-period=60s",
                *self._run_args(role),
                docker.IMAGE,
                role,
            )

    def health(self, role: str) -> str:
        return self.engine.output(
            "inspect", "-f", "{{.State.Health.Status}}", f"{self.name}-{role}"
        )

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            states = {role: self.health(role) for role in ROLES}
            if set(states.values()) == {"healthy"}:
                return
            time.sleep(1)
        pytest.fail(f"containers not healthy: {states}\n{self.logs()}")

    def restart(self) -> None:
        self.engine.run("restart", *(f"{self.name}-{role}" for role in ROLES), timeout=180)

    def exec(self, role: str, *command: str) -> str:
        return self.engine.output("exec", f"{self.name}-{role}", *command, timeout=120)

    def logs(self) -> str:
        parts = []
        for role in ROLES:
            done = self.engine.run("logs", "--tail=60", f"{self.name}-{role}", check=False)
            parts.append(f"--- {role}\n{done.stdout[-4000:]}{done.stderr[-4000:]}")
        return "\n".join(parts)

    def remove(self) -> None:
        self.engine.run("rm", "--force", *(f"{self.name}-{r}" for r in ROLES), check=False)
        self.engine.run(
            "volume", "rm", *(f"{self.name}-{r}-data" for r in (*ROLES, "migrate")), check=False
        )

    # --- over HTTP, as a client ---------------------------------------------------------------
    def api(self, method: str, path: str, token: str, body: bytes | None = None, **headers):
        status, _headers, answer = http(
            method,
            self.base + path,
            body=body,
            headers={"Authorization": f"Bearer {token}", **headers},
            timeout=30,
        )
        return status, answer

    def upload(self, token: str, name: str, data: bytes) -> dict:
        body, content_type = multipart(name, data)
        status, answer = self.api(
            "POST", "/api/v1/files/", token, body, **{"Content-Type": content_type}
        )
        assert status == 201, (status, answer[:500])
        return json.loads(answer)

    def wait_thumbnail(self, token: str, file_id: str) -> bytes:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            status, answer = self.api("GET", f"/api/v1/files/{file_id}/", token)
            assert status == 200, answer[:500]
            if json.loads(answer)["thumbnail"]:
                status, image = self.api("GET", f"/api/v1/files/{file_id}/thumbnail", token)
                assert status == 200, image[:300]
                return image
            time.sleep(0.5)
        pytest.fail(f"the worker container made no thumbnail\n{self.logs()}")


def _log_in(base: str, username: str, password: str) -> int:
    """A browser's log-in with the printed password: the status of the page it lands on."""
    jar = CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(f"{base}/accounts/login/", timeout=30).read().decode()
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode(
        {"csrfmiddlewaretoken": csrf, "username": username, "password": password}
    ).encode()
    request = urllib.request.Request(
        f"{base}/accounts/login/", data=form, headers={"Referer": f"{base}/accounts/login/"}
    )
    with opener.open(request, timeout=30) as landed:
        assert urlsplit(landed.url).path == "/", f"log-in failed, landed on {landed.url}"
        return landed.status


@pytest.fixture
def deployment(engine, database, s3_server):
    port = free_port()
    secrets_dir = Path(tempfile.mkdtemp(prefix="locker-secrets-"))
    secrets_dir.chmod(0o755)  # the image's user (uid 10001) reads them
    values = {
        "secret_key": secrets.token_urlsafe(50),
        "database_url": database,
        "master_keys": f"kci:{__import__('base64').b64encode(os.urandom(32)).decode()}",
        "s3_secret": s3_server.secret_key,
    }
    for name, value in values.items():
        (secrets_dir / name).write_text(value + "\n")
        (secrets_dir / name).chmod(0o644)
    env = {
        "SECRET_KEY_FILE": "/run/secrets/secret_key",
        "DATABASE_URL_FILE": "/run/secrets/database_url",
        "LOCKER_MASTER_KEYS_FILE": "/run/secrets/master_keys",
        "LOCKER_S3_SECRET_ACCESS_KEY_FILE": "/run/secrets/s3_secret",
        "CELERY_BROKER_URL": _redis_url(),
        "LOCKER_CACHE_URL": _redis_url(),
        # A queue of this test's own on the shared Redis: no message of another test is taken.
        "LOCKER_CELERY_QUEUE": f"container-{secrets.token_hex(4)}",
        "LOCKER_STORAGE": "s3",
        "LOCKER_S3_ENDPOINT_URL": s3_server.endpoint_url,
        "LOCKER_S3_BUCKET": f"container-{secrets.token_hex(4)}",  # migrate creates it
        "LOCKER_S3_ACCESS_KEY_ID": s3_server.access_key,
        "LOCKER_S3_REGION": s3_server.region,
        "LOCKER_BIND": "127.0.0.1",
        "PORT": str(port),
        "LOCKER_BASE_URL": f"http://127.0.0.1:{port}",
        "LOCKER_WEB_WORKERS": "1",
        "LOCKER_WORKER_CONCURRENCY": "1",
        "LOCKER_MIN_FREE_SPACE": "1M",
    }
    deployment = Deployment(engine, env, secrets_dir)
    try:
        yield deployment
    finally:
        deployment.remove()
        shutil.rmtree(secrets_dir, ignore_errors=True)
        with contextlib.suppress(Exception):
            import redis

            redis.Redis.from_url(env["CELERY_BROKER_URL"]).delete(env["LOCKER_CELERY_QUEUE"])


def test_the_migrate_role_is_safe_to_run_again_and_prints_the_password_once(tmp_path):
    """The one-shot role itself, outside a container: embedded defaults in a fresh data dir."""
    env = default_env(tmp_path / "data", free_port())

    def migrate() -> str:
        done = subprocess.run(
            [sys.executable, "-m", "locker.container", "migrate"],
            cwd=docker.REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout

    first = migrate()
    assert "username: admin" in first
    assert re.search(r"password: \S{15,}", first)
    assert (tmp_path / "data" / "objects").is_dir()  # the storage was prepared
    second = migrate()
    assert "password" not in second
    assert "migrate done" in second


def test_the_image_runs_as_a_non_root_user_without_a_compiler_and_declares_its_volume(engine):
    config = json.loads(engine.output("image", "inspect", "-f", "{{json .Config}}", docker.IMAGE))
    assert config["User"] == "locker"
    assert list(config["Volumes"]) == ["/data"]
    assert config["Healthcheck"]["Test"][-3:] == ["-m", "locker.container", "healthcheck"]
    assert config["Entrypoint"] == ["python", "-m", "locker.container"]
    inside = engine.output(
        "run",
        "--rm",
        "--network=none",
        "--entrypoint",
        "sh",
        docker.IMAGE,
        "-c",
        "id -u; command -v gcc cc make || echo no-compiler;"
        " test -f /app/static-root/staticfiles.json && echo static-collected;"
        " test -e /app/tests || echo no-tests",
    )
    assert inside.splitlines() == ["10001", "no-compiler", "static-collected", "no-tests"]


def test_web_worker_and_beat_containers_serve_process_share_and_survive_a_restart(deployment):
    # The one-shot role: migrations, the bucket, the first administrator and its password.
    migrated = deployment.migrate()
    password = re.search(r"password: (\S+)", migrated)
    assert password, migrated
    assert "migrate done" in migrated
    deployment.start()
    deployment.wait_healthy()  # the image's HEALTHCHECK answers for each role

    # The printed password logs in; static files were collected at build time.
    assert _log_in(deployment.base, "admin", password.group(1)) == 200
    status, _headers, page = http("GET", f"{deployment.base}/accounts/login/")
    stylesheet = re.search(rb'href="(/static/[^"]+\.css)"', page).group(1).decode()
    assert http("GET", deployment.base + stylesheet)[0] == 200

    token = deployment.exec(
        "web", "python", "-m", "locker.container", "manage", "createapitoken", "admin"
    ).splitlines()[-1]
    assert deployment.api("GET", "/api/v1/me/", token)[0] == 200

    # Upload; the worker container makes the thumbnail; a share link serves the bytes.
    photo = media.jpeg((640, 480))
    uploaded = deployment.upload(token, "photo.jpg", photo)
    assert deployment.wait_thumbnail(token, uploaded["id"]).startswith(IMAGE_MAGIC)
    status, answer = deployment.api(
        "POST",
        "/api/v1/shares/",
        token,
        json.dumps({"file": uploaded["id"]}).encode(),
        **{"Content-Type": "application/json"},
    )
    assert status == 201, answer[:500]
    share_url = json.loads(answer)["url"]
    assert share_url.startswith(deployment.base + "/s/")
    status, _headers, downloaded = http("GET", share_url + "/download", timeout=30)
    assert status == 200
    assert hashlib.sha256(downloaded).hexdigest() == hashlib.sha256(photo).hexdigest()

    # Restart every container: the data is intact, and the worker takes new work.
    deployment.restart()
    deployment.wait_healthy()
    status, _headers, again = http("GET", share_url + "/download", timeout=30)
    assert status == 200
    assert again == photo
    status, answer = deployment.api("GET", f"/api/v1/files/{uploaded['id']}/", token)
    assert status == 200
    assert json.loads(answer)["name"] == "photo.jpg"
    assert deployment.wait_thumbnail(token, uploaded["id"]).startswith(IMAGE_MAGIC)
    later = deployment.upload(token, "after-restart.png", media.png())
    assert deployment.wait_thumbnail(token, later["id"]).startswith(IMAGE_MAGIC)


@pytest.mark.skipif(
    not shutil.which("docker-compose") and os.environ.get("CI", "").lower() != "true",
    reason="docker-compose (Debian's package) validates compose.yaml",  # CI installs it
)
def test_compose_file_is_valid_and_wires_every_role():
    import yaml

    rendered = subprocess.run(
        [
            "docker-compose",
            "--project-directory",
            str(docker.REPO),
            "-f",
            str(docker.REPO / "compose.yaml"),
            "--env-file",
            str(docker.REPO / ".env.example"),
            "config",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert rendered.returncode == 0, rendered.stderr
    config = yaml.safe_load(rendered.stdout)
    services = config["services"]
    assert set(services) == {"migrate", "web", "worker", "beat", "postgres", "redis", "s3", "clamd"}
    # One image, a role each; the one-shot migrate goes first and is not restarted.
    assert {services[name]["image"] for name in ("migrate", *ROLES)} == {"locker:latest"}
    for role in ("migrate", *ROLES):
        assert services[role]["command"] == [role]
        assert services[role]["volumes"] == ["data:/data:rw"]
    assert services["migrate"]["restart"] == "no"
    for role in ROLES:
        assert services[role]["depends_on"]["migrate"] == {
            "condition": "service_completed_successfully"
        }
        assert services[role]["restart"] == "unless-stopped"
    assert services["web"]["ports"] == [{"published": 8000, "target": 8000}]
    for name in ("web", "worker", "postgres", "redis", "s3", "clamd"):
        assert services[name]["healthcheck"]["test"], name
    assert set(config["volumes"]) == {"data", "postgres", "redis", "s3", "clamav"}
