"""`make run`'s launcher (`python -m locker.run`) really starts the product and Ctrl-C stops it all.

The launcher runs with the embedded defaults (SQLite, local disk, the filesystem Celery broker in
a temporary data dir), whatever the test run itself is configured with, so it never touches the
CI database or broker.
"""

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CONFIG_PREFIXES = ("LOCKER_", "CELERY_", "DJANGO_")
CONFIG_NAMES = {"DATABASE_URL", "SECRET_KEY", "DEBUG", "ALLOWED_HOSTS", "PORT"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _default_env(data_dir: Path, port: int) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(CONFIG_PREFIXES) and name not in CONFIG_NAMES
    }
    env.update(
        LOCKER_DATA_DIR=str(data_dir),
        PORT=str(port),
        PYTHONUNBUFFERED="1",
        # Plain copies instead of compressed, hashed ones: collectstatic in seconds, not tens.
        LOCKER_STATICFILES_BACKEND="django.contrib.staticfiles.storage.StaticFilesStorage",
    )
    return env


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except OSError:
        return 0, ""


def _descendants(pid: int) -> set[tuple[int, str]]:
    """Every process below pid, as (pid, start time) so that a reused pid is not mistaken."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: set[tuple[int, str]] = set()
    todo = list(children.get(pid, []))
    while todo:
        child = todo.pop()
        start = _start_time(child)
        if start is not None:
            found.add((child, start))
        todo.extend(children.get(child, []))
    return found


def _start_time(pid: int) -> str | None:
    """The process's start time, or None when it is gone (a zombie counts as gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] in ("Z", "X") else fields[19]


def _wait_for(predicate, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.2)
    pytest.fail(f"gave up waiting for {what}")


@pytest.mark.worker
def test_launcher_serves_the_app_and_ctrl_c_stops_every_process(tmp_path):
    port = _free_port()
    env = _default_env(tmp_path / "data", port)
    subprocess.run(
        [
            sys.executable,
            "manage.py",
            "shell",
            "-c",
            "from django.core.management import call_command as c;"
            "c('migrate', interactive=False, verbosity=0);"
            "c('createcachetable');"
            "c('collectstatic', interactive=False, verbosity=0)",
        ],
        cwd=REPO,
        env=env,
        check=True,
        capture_output=True,
    )
    log_path = tmp_path / "launcher.log"
    with open(log_path, "wb") as log:
        launcher = subprocess.Popen(
            [sys.executable, "-m", "locker.run"],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    started: set[tuple[int, str]] = set()
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_for(lambda: _get(f"{base}/healthz")[0] == 200, 60, "/healthz to answer 200")
        _wait_for(lambda: " ready." in log_path.read_text(), 60, "the Celery worker")
        _wait_for(lambda: "beat: Starting" in log_path.read_text(), 60, "Celery beat")

        status, page = _get(f"{base}/accounts/login/")
        assert status == 200
        assert 'name="password"' in page
        stylesheet = re.search(r'href="(/static/[^"]+\.css)"', page)
        assert stylesheet, "the login page links its stylesheet"
        assert _get(base + stylesheet.group(1))[0] == 200

        started = _descendants(launcher.pid)
        commands = {Path(f"/proc/{pid}/cmdline").read_bytes() for pid, _ in started}
        assert any(b"gunicorn" in cmd for cmd in commands)
        assert any(b"worker" in cmd and b"celery" in cmd for cmd in commands)
        assert any(b"beat" in cmd and b"celery" in cmd for cmd in commands)
        # gunicorn master + its 2 workers, celery worker + its pool, celery beat.
        assert len(started) >= 6

        os.killpg(launcher.pid, signal.SIGINT)  # what the terminal does on Ctrl-C
        assert launcher.wait(timeout=30) == 0
        _wait_for(
            lambda: all(_start_time(pid) != start for pid, start in started),
            10,
            "every child process to be gone",
        )
    finally:
        # Leave nothing behind, even when an assertion failed half-way.
        started |= _descendants(launcher.pid)
        if launcher.poll() is None:
            launcher.kill()
            launcher.wait()
        for pid, start in started:
            if _start_time(pid) == start:
                os.kill(pid, signal.SIGKILL)
