"""The password throttle holds across gunicorn worker processes (a real multi-worker server).

With a per-process cache each worker would grant its own allowance; with the shared cache
(the database cache by default) the workers share one counter. The server runs on the embedded
defaults in a temporary data dir, whatever the test run itself is configured with.
"""

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LIMIT = 5
SETUP = """
from django.core.cache import cache
cache.clear()  # a fresh database reuses ids, so counters left in a shared Redis must go
from files.content import content_writer
from files.services import NewFileContent, files_create
from accounts.models import User
from sharing.services import share_create
user = User.objects.create_user(username="owner", email="owner@example.com", password="x")
writer = content_writer(); writer.write(b"secret bytes"); blob = writer.finish()
(file,) = files_create(user=user, folder=None, contents=[NewFileContent(
    name="s.txt", blob=blob, size=writer.size, sha256=writer.sha256.hexdigest(),
    content_type="text/plain")])
share, token = share_create(owner=user, file=file, password="right password")
print("TOKEN=" + token)
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# The database cache always; Redis too when the run is configured with it (CI is).
CACHES = [""] + [
    url
    for url in [os.environ.get("LOCKER_CACHE_URL", "")]
    if url.startswith(("redis://", "rediss://"))
]


def _env(data_dir: Path, cache_url: str) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("LOCKER_", "CELERY_", "DJANGO_"))
        and name not in {"DATABASE_URL", "SECRET_KEY", "DEBUG", "ALLOWED_HOSTS"}
    }
    env.update(
        LOCKER_DATA_DIR=str(data_dir),
        LOCKER_CACHE_URL=cache_url,
        LOCKER_SHARE_PASSWORD_ATTEMPTS=str(LIMIT),
        LOCKER_STATICFILES_BACKEND="django.contrib.staticfiles.storage.StaticFilesStorage",
        PYTHONUNBUFFERED="1",
    )
    return env


def _manage(env, *args, stdin: str | None = None) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=240,
        check=True,
    )
    return result.stdout


def _post_password(url: str, password: str) -> int:
    """The password form, posted as a plain client would (no cookies kept between attempts)."""
    data = urllib.parse.urlencode({"password": password}).encode()
    request = urllib.request.Request(url, data=data)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.fixture(params=CACHES, ids=lambda url: "redis" if url else "dbcache")
def multiworker_server(request, tmp_path):
    env = _env(tmp_path / "data", request.param)
    _manage(env, "migrate", "--noinput")
    _manage(env, "createcachetable")
    token = _manage(env, "shell", stdin=SETUP).split("TOKEN=", 1)[1].strip()
    port = _free_port()
    log = tmp_path / "access.log"
    server = subprocess.Popen(
        [
            os.path.join(os.path.dirname(sys.executable), "gunicorn"),
            "locker.wsgi:application",
            f"--bind=127.0.0.1:{port}",
            "--workers=2",
            "--no-control-socket",
            f"--access-logfile={log}",
            "--access-logformat=%(p)s %(s)s %(m)s %(U)s",
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=2):
                    break
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        yield base, token, log
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def test_password_throttle_holds_across_gunicorn_workers(multiworker_server):
    base, token, log = multiworker_server
    url = f"{base}/s/{token}"
    statuses: list[int] = []
    with ThreadPoolExecutor(max_workers=2) as pool:
        for _ in range(8):  # pairs in flight at once land on both sync workers
            statuses += list(pool.map(lambda _i: _post_password(url, "wrong"), range(2)))
    refused = statuses.count(403)  # wrong password, checked
    throttled = statuses.count(429)
    # One shared counter: the limit, plus at most the one attempt that raced the last check.
    # Per-process counters would have let about twice the limit through.
    assert LIMIT <= refused <= LIMIT + 1, statuses
    assert throttled == len(statuses) - refused
    assert _post_password(url, "right password") == 429
    workers = {line.split()[0] for line in log.read_text().splitlines() if " POST " in line}
    assert len(workers) == 2, "both gunicorn workers must have answered password attempts"
