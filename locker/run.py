"""`make run`: start the web server, a Celery worker and Celery beat; Ctrl-C stops them all.

Every child gets the same environment, so they share the settings and the data dir. A child that
dies is restarted after a backoff (1 s, doubling up to 30 s); only a child that dies
`LOCKER_RUN_RESTART_LIMIT` times within `LOCKER_RUN_RESTART_WINDOW` stops the whole, so one crash
(an out-of-memory kill, a broker outage that ends the worker) never takes the web server down.
"""

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections import deque

from locker.env import env_duration, env_int, env_str
from locker.metrics_setup import MULTIPROC_ENV, prepare_multiprocess_dir

BACKOFF_FIRST = 1.0
BACKOFF_MAX = 30.0


def web_command(
    port: int,
    bind: str,
    *,
    workers: int = 2,
    threads: int = 8,
    forwarded_allow_ips: str = "127.0.0.1",
) -> list[str]:
    """gunicorn as `make run` starts it (tests start the same command)."""
    return [
        os.path.join(os.path.dirname(sys.executable), "gunicorn"),
        "locker.wsgi:application",
        f"--bind={bind}:{port}",
        f"--workers={workers}",
        # gthread, with request reads that never hold a thread for a slow client.
        "--worker-class=locker.gunicorn_worker.ThreadWorker",
        f"--threads={threads}",
        "--timeout=120",
        "--graceful-timeout=10",
        "--access-logfile=-",
        # Link tokens and tus upload ids in request lines and referers are masked.
        "--logger-class=locker.logmask.GunicornLogger",
        # gunicorn's control socket defaults to one path in $HOME shared by every instance.
        "--no-control-socket",
        "--forwarded-allow-ips=" + forwarded_allow_ips,
        # Server hooks: the metrics directory of the workers (locker/gunicorn_conf.py).
        "--config=python:locker.gunicorn_conf",
    ]


def _commands(port: int, bind: str) -> dict[str, list[str]]:
    python = sys.executable
    return {
        "web": web_command(
            port,
            bind,
            workers=env_int("LOCKER_WEB_WORKERS", 2),
            threads=env_int("LOCKER_WEB_THREADS", 8),
            forwarded_allow_ips=env_str("LOCKER_FORWARDED_ALLOW_IPS", "127.0.0.1"),
        ),
        "worker": [
            python,
            "-m",
            "celery",
            "-A",
            "locker",
            "worker",
            "--loglevel=INFO",
            f"--concurrency={env_int('LOCKER_WORKER_CONCURRENCY', 2)}",
            "--without-gossip",
            "--without-mingle",
            "-n",
            "worker@%h",
        ],
        "beat": [python, "-m", "celery", "-A", "locker", "beat", "--loglevel=INFO"],
    }


# glibc serves allocations above 128 KiB with a fresh mmap and returns them on free, so every
# segment read, decrypted and sent costs page faults; raising the threshold lets those buffers
# be reused (downloads went from ~1.1 to ~1.9 GB/s of decryption, bench/README.md). Each helper
# thread of a transfer (hashing, writing, decrypting ahead) would otherwise get a malloc arena
# of its own: two arenas keep a worker's memory after its first large transfer at ~10 MiB
# instead of up to ~40 MiB. A deployment that starts gunicorn itself should set the same three
# variables.
MALLOC_TUNING = {
    "MALLOC_MMAP_THRESHOLD_": "4194304",
    "MALLOC_TRIM_THRESHOLD_": "16777216",
    "MALLOC_ARENA_MAX": "2",
}


def child_environment() -> dict[str, str]:
    return {**MALLOC_TUNING, **os.environ}


def _say(message: str) -> None:
    print(f"locker.run: {message}", flush=True)


def _describe(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exited with status {returncode}"


class Child:
    """One supervised process: its command, the current process, and its recent deaths."""

    def __init__(self, name: str, cmd: list[str]):
        self.name = name
        self.cmd = cmd
        self.proc: subprocess.Popen | None = None
        self.deaths: deque[float] = deque()
        self.restart_at: float | None = None

    def start(self) -> None:
        # Own process group per child, so the terminal's Ctrl-C reaches us once and we decide,
        # and so what is left of a dead child (its pool or worker processes) can be killed.
        self.proc = subprocess.Popen(self.cmd, start_new_session=True, env=child_environment())
        self.restart_at = None

    def kill_leftovers(self) -> None:
        """After the leader died: its workers may still hold the port or a task; kill them."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)


def main() -> int:
    port = env_int("PORT", 8000)
    bind = env_str("LOCKER_BIND", "127.0.0.1")
    limit = env_int("LOCKER_RUN_RESTART_LIMIT", 5)
    window = env_duration("LOCKER_RUN_RESTART_WINDOW", "60s")
    children = [Child(name, cmd) for name, cmd in _commands(port, bind).items()]
    stopping = False

    def stop(*_args):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    if not os.environ.get(MULTIPROC_ENV):
        # Web workers, Celery's pool and beat all count into one fresh directory (/metrics).
        prepare_multiprocess_dir()
    for child in children:
        child.start()
    print(f"Locker is running at http://{bind}:{port}/  (Ctrl-C stops it)", flush=True)
    exit_code = 0
    while not stopping:
        now = time.monotonic()
        for child in children:
            if child.restart_at is not None:
                if now >= child.restart_at:
                    _say(f"starting {child.name} again")
                    child.start()
                continue
            if child.proc.poll() is None:
                continue
            child.kill_leftovers()
            child.deaths.append(now)
            while child.deaths and now - child.deaths[0] > window:
                child.deaths.popleft()
            if len(child.deaths) >= limit:
                _say(
                    f"{child.name} {_describe(child.proc.returncode)}; it died {len(child.deaths)} "
                    f"times within {window} s, so Locker stops. Its log above says why; fix that "
                    "and start again."
                )
                exit_code = child.proc.returncode or 1
                stopping = True
                break
            delay = min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** (len(child.deaths) - 1))
            child.restart_at = now + delay
            _say(
                f"{child.name} {_describe(child.proc.returncode)}; restarting it in {delay:g} s "
                f"({len(child.deaths)} in the last {window} s; {limit} stop Locker)"
            )
        time.sleep(0.3)
    # SIGTERM to each leader only: gunicorn and celery stop their own workers. Signalling the
    # whole group made celery's prefork pool children die under the master, which then hung.
    running = [child.proc for child in children if child.restart_at is None]
    for proc in running:
        if proc.poll() is None:
            proc.terminate()
    deadline = time.monotonic() + 15
    for proc in running:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
    for child in children:
        # Whatever is left of a group (a stuck leader or an orphaned worker) is killed.
        child.kill_leftovers()
        child.proc.wait()
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
