"""`make run`'s launcher (`python -m locker.run`) really starts the product, keeps it up when a
child dies, and Ctrl-C stops it all.

The launcher runs with the embedded defaults (SQLite, local disk, the filesystem Celery broker in
a temporary data dir), whatever the test run itself is configured with, so it never touches the
CI database or broker (tests/fixtures/launcher.py).
"""

import os
import re
import signal
from pathlib import Path

import pytest

from tests.fixtures.launcher import Launcher, get, start_time, wait_for
from tests.workers import media


@pytest.fixture
def launcher(tmp_path):
    launcher = Launcher(tmp_path)
    yield launcher
    launcher.cleanup()


def _all_gone(launcher: Launcher) -> None:
    wait_for(
        lambda: all(start_time(pid) != start for pid, start in launcher.seen),
        10,
        "every child process to be gone",
    )


@pytest.mark.worker
def test_launcher_serves_the_app_and_ctrl_c_stops_every_process(launcher):
    launcher.prepare()
    launcher.start()
    launcher.wait_ready()
    base = launcher.base

    status, page = get(f"{base}/accounts/login/")
    assert status == 200
    assert 'name="password"' in page
    stylesheet = re.search(r'href="(/static/[^"]+\.css)"', page)
    assert stylesheet, "the login page links its stylesheet"
    assert get(base + stylesheet.group(1))[0] == 200

    started = launcher.remember()
    commands = {Path(f"/proc/{pid}/cmdline").read_bytes() for pid, _ in started}
    assert any(b"gunicorn" in cmd for cmd in commands)
    assert any(b"worker" in cmd and b"celery" in cmd for cmd in commands)
    assert any(b"beat" in cmd and b"celery" in cmd for cmd in commands)
    # gunicorn master + its 2 workers, celery worker + its pool, celery beat.
    assert len(started) >= 6

    assert launcher.interrupt() == 0
    _all_gone(launcher)


def _thumbnail_made(launcher: Launcher, token: str, file_id: str) -> bool:
    return bool(launcher.api_get(token, f"/api/v1/files/{file_id}/")["thumbnail"])


@pytest.mark.worker
def test_a_child_killed_with_sigkill_is_restarted_and_the_rest_keeps_serving(launcher):
    launcher.prepare()
    token = launcher.create_alice()
    launcher.start()
    launcher.wait_ready()

    # The worker: the web server keeps answering, and a new worker processes the next upload.
    worker = launcher.child("worker")
    launcher.remember()
    os.kill(worker, signal.SIGKILL)
    wait_for(
        lambda: "worker killed by SIGKILL; restarting it" in launcher.log(),
        30,
        "the launcher to see the worker die",
    )
    assert launcher.proc.poll() is None
    assert get(f"{launcher.base}/healthz")[0] == 200
    uploaded = launcher.upload(token, "after-the-kill.png", media.png())
    wait_for(
        lambda: _thumbnail_made(launcher, token, uploaded["id"]),
        120,
        "a new worker to make the thumbnail",
    )
    assert launcher.child("worker") != worker
    assert "starting worker again" in launcher.log()

    # Beat comes back.
    beat = launcher.child("beat")
    os.kill(beat, signal.SIGKILL)
    wait_for(lambda: launcher.log().count("beat: Starting") >= 2, 90, "a new beat")
    assert launcher.child("beat") != beat

    # The web server comes back (its orphaned workers are killed, so the port is free again).
    web = launcher.child("web")
    launcher.remember()
    os.kill(web, signal.SIGKILL)
    wait_for(lambda: "web killed by SIGKILL; restarting it" in launcher.log(), 30, "web's death")
    wait_for(lambda: get(f"{launcher.base}/healthz")[0] == 200, 90, "the new web server")
    assert launcher.child("web") != web
    again = launcher.upload(token, "after-the-web-restart.png", media.png())
    wait_for(lambda: _thumbnail_made(launcher, token, again["id"]), 120, "the thumbnail")

    assert launcher.proc.poll() is None
    assert launcher.interrupt() == 0
    _all_gone(launcher)


@pytest.mark.worker
def test_a_child_that_keeps_dying_stops_everything_with_a_clear_message(tmp_path):
    # A broker URL no process can use: the worker and beat die at every start. The window is
    # wide so that a slow machine still counts five deaths in it.
    launcher = Launcher(
        tmp_path, {"CELERY_BROKER_URL": "nosuchbroker://", "LOCKER_RUN_RESTART_WINDOW": "10m"}
    )
    try:
        launcher.prepare()
        launcher.start()

        def gave_up():
            launcher.remember()  # every process it started, to check they are all gone
            return launcher.proc.poll() is not None

        wait_for(gave_up, 240, "the launcher to give up")
        assert launcher.proc.returncode != 0
        log = launcher.log()
        assert re.search(r"(worker|beat) exited with status \d+; restarting it in 1 s", log)
        assert re.search(r"(worker|beat) exited with status \d+; restarting it in 8 s", log)
        assert re.search(
            r"(worker|beat) exited with status \d+; it died 5 times within 600 s, so Locker "
            r"stops\. Its log above says why",
            log,
        )
        _all_gone(launcher)
    finally:
        launcher.cleanup()


@pytest.mark.worker
def test_the_first_run_password_and_the_url_are_the_last_lines_of_the_start(launcher):
    launcher.prepare()  # no user yet: the launcher creates the administrator
    launcher.start()
    running = f"Locker is running at http://127.0.0.1:{launcher.port}/"
    wait_for(lambda: running in launcher.log(), 120, "the launcher to print its URL")
    log = launcher.log()
    announced = log.index("Created the administrator account:")
    assert log.index(running) > announced
    # After everything the children print while they start: both web workers, the Celery
    # worker's banner and its "ready", beat's start.
    for mark in ("Ready to serve requests", "[tasks]", " ready.", "beat: Starting"):
        assert log.rindex(mark, 0, announced) < announced, mark
    assert log.count("Ready to serve requests", 0, announced) == 2
    assert log.count(running) == 1

    password = re.search(r"password: (\S+)", log[announced:]).group(1)
    assert (
        launcher.manage_shell(
            "from accounts.models import User;"
            f"print(User.objects.get(username='admin').check_password({password!r}))"
        )
        .strip()
        .endswith("True")
    )
    assert get(f"{launcher.base}/healthz")[0] == 200
    assert launcher.interrupt() == 0
    _all_gone(launcher)

    # A second start creates nobody and prints no password, only the URL, last.
    launcher.start()
    wait_for(lambda: launcher.log().count(running) == 2, 120, "the second start's URL")
    second = launcher.log()[len(log) :]
    assert "Created the administrator" not in second
    assert "password:" not in second
    assert second.index(running) > second.rindex(" ready.")
    assert launcher.interrupt() == 0
    _all_gone(launcher)
