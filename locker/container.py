"""The container image's entry point: `python -m locker.container ROLE [ARGS…]`.

One image serves every role, chosen by the first argument (the compose service's `command`):

- `web`: gunicorn, exactly as `make run` starts it (locker.run), on `$LOCKER_BIND:$PORT`.
- `worker`: a Celery worker; `beat`: Celery beat (run exactly one).
- `migrate`: one shot — apply migrations, create the cache table, create the S3 bucket or the
  objects directory when missing, and create the first administrator, printing its password
  once. Safe to run again; the other roles start after it has succeeded.
- `manage ARGS…`: `manage.py ARGS…` (e.g. `manage createapitoken admin`).
- `healthcheck`: the image's HEALTHCHECK. Web: GET /healthz answers 200. Worker: it answers a
  Celery ping. Beat and one-shot roles: healthy while they run.
- anything else is run as a command (`bash`, `python …`).

Each long-running role replaces this process (exec), so it is PID 1 of the container (or the
child of `init: true`) and gets Docker's SIGTERM itself.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import urllib.error
import urllib.request
from pathlib import Path

from locker.env import env_int, env_str

# Where a long-running role notes what it is, for the health check (run later, in its own
# process, with the container's environment but not the role's arguments).
ROLE_FILE = "/tmp/locker-role"  # noqa: S108 - the container's own /tmp
ROLES = ("web", "worker", "beat", "migrate", "manage", "healthcheck")
HEALTH_TIMEOUT = 8
MANAGE_PY = Path(__file__).resolve().parent.parent / "manage.py"


def role_command(role: str, args: list[str]) -> list[str]:
    """The command a long-running role, or `manage`, execs."""
    from locker.run import _commands  # the very commands `make run` supervises

    if role == "manage":
        return [sys.executable, str(MANAGE_PY), *args]
    commands = _commands(
        env_int("PORT", 8000),
        env_str("LOCKER_BIND", "0.0.0.0"),  # noqa: S104
        fd=None,  # gunicorn binds the port itself: the container is the only process there
        web_workers=env_int("LOCKER_WEB_WORKERS", 2),
    )
    return [*commands[role], *args]


def migrate() -> int:
    """Bring the database and storage up to date and make the first administrator."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "locker.settings")
    django.setup()
    from django.core.management import call_command

    from storage.backends import get_blobstore

    call_command("migrate", interactive=False)
    call_command("createcachetable")
    get_blobstore().prepare()
    call_command("ensureadmin")
    print("locker.container: migrate done.", flush=True)
    return 0


def healthcheck(role: str) -> int:
    """0 healthy, 1 not (Docker's HEALTHCHECK convention); says why on stdout."""
    if role == "web":
        bind = env_str("LOCKER_BIND", "0.0.0.0")  # noqa: S104
        host = "127.0.0.1" if bind in ("0.0.0.0", "", "::") else bind  # noqa: S104
        url = f"http://{host}:{env_int('PORT', 8000)}/healthz"
        try:
            with urllib.request.urlopen(url, timeout=HEALTH_TIMEOUT) as response:  # noqa: S310
                status = response.status
        except urllib.error.HTTPError as error:
            status = error.code
        except OSError as error:
            print(f"{url}: {error}")
            return 1
        print(f"{url}: {status}")
        return 0 if status == 200 else 1
    if role == "worker":
        from locker.celery import app

        name = f"worker@{socket.gethostname()}"
        answers = app.control.ping(destination=[name], timeout=HEALTH_TIMEOUT)
        print(f"{name}: {'pong' if answers else 'no answer'}")
        return 0 if answers else 1
    return 0


def _running_role() -> str:
    try:
        with open(ROLE_FILE, encoding="utf-8") as fh:
            return fh.read().strip()
    except OSError:
        return "web"


def main(argv: list[str]) -> int:
    if not argv:
        argv = ["web"]
    role, args = argv[0], argv[1:]
    if role == "healthcheck":
        return healthcheck(_running_role())
    if role == "migrate":
        return migrate()
    if role not in ROLES:
        os.execvp(role, argv)  # noqa: S606 - a plain command: `bash`, `python -c …`
    from locker.run import child_environment

    command = role_command(role, args)
    if role != "manage":
        with contextlib.suppress(OSError), open(ROLE_FILE, "w", encoding="utf-8") as fh:
            fh.write(role + "\n")  # a read-only /tmp: the health check assumes web
    os.execve(command[0], command, child_environment())  # noqa: S606
    return 1  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
