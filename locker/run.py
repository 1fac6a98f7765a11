"""`make run`: start the web server, a Celery worker and Celery beat; Ctrl-C stops them all.

Every child gets the same environment (with what locker.env adds), so they share the settings and
the data dir. A child that dies is restarted after a backoff (1 s, doubling up to 30 s); only a
child that dies `LOCKER_RUN_RESTART_LIMIT` times within `LOCKER_RUN_RESTART_WINDOW` stops the
whole, so one crash (an out-of-memory kill, a broker outage that ends the worker) never takes the
web server down.

Before anything starts, the launcher takes the port itself (a port in use is one line, and
nothing else runs) and hands the listening socket to gunicorn, which every restarted web server
inherits too. Then `manage.py ensureadmin` runs (a wrong setting or an unreachable database ends
the start there, in one line). The children's output passes through the launcher, which prints
the first-run credentials and "Locker is running at …" once the web workers, the Celery worker
and beat have said they are ready: those lines are the last of the start-up.

`python -m locker.run --check` only checks the launcher's own settings and that the port is
free; `make run` runs it before migrating.
"""

import contextlib
import errno
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from locker import envfile
from locker.env import base_url, env_duration, env_int, env_port, env_str
from locker.metrics_setup import MULTIPROC_ENV, prepare_multiprocess_dir
from locker.startup import refuse

BASE_DIR = Path(__file__).resolve().parent.parent
# How long the start-up may take before the URL is printed anyway (with a word on what is late).
READY_TIMEOUT = 90.0
# What each child prints once it is ready (gunicorn: locker.gunicorn_worker, once per worker).
READY_MARKS = {"web": b"Ready to serve requests", "worker": b" ready.", "beat": b"beat: Starting"}

BACKOFF_FIRST = 1.0
BACKOFF_MAX = 30.0


def web_command(
    port: int,
    bind: str,
    *,
    workers: int = 2,
    threads: int = 8,
    forwarded_allow_ips: str = "127.0.0.1",
    fd: int | None = None,
) -> list[str]:
    """gunicorn as `make run` starts it (tests start the same command); with `fd`, on the
    listening socket the caller opened instead of binding bind:port itself."""
    return [
        os.path.join(os.path.dirname(sys.executable), "gunicorn"),
        "locker.wsgi:application",
        f"--bind=fd://{fd}" if fd is not None else f"--bind={bind}:{port}",
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


def _commands(port: int, bind: str, fd: int | None, web_workers: int) -> dict[str, list[str]]:
    python = sys.executable
    return {
        "web": web_command(
            port,
            bind,
            workers=web_workers,
            threads=env_int("LOCKER_WEB_THREADS", 8),
            forwarded_allow_ips=env_str("LOCKER_FORWARDED_ALLOW_IPS", "127.0.0.1"),
            fd=fd,
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
    # Unbuffered: the launcher passes each line on as it comes.
    return {**MALLOC_TUNING, **os.environ, "PYTHONUNBUFFERED": "1"}


_output = threading.Lock()


def _write(data: bytes) -> None:
    with _output:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()


def _say(message: str) -> None:
    _write(f"locker.run: {message}\n".encode())


def listen(bind: str, port: int) -> socket.socket:
    """The web server's listening socket on bind:port; a port in use ends the start in a line."""
    host = bind.strip("[]") or None
    try:
        family, kind, proto, _name, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        refuse(f"LOCKER_BIND must be an address of this machine, not {bind!r} ({exc.strerror}).")
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            refuse(
                f"port {port} on {bind} is already in use (PORT={port}); stop what is using it, "
                "or choose another port with PORT."
            )
        refuse(f"cannot listen on {bind} port {port} (LOCKER_BIND, PORT): {exc.strerror}.")
    sock.listen(2048)
    return sock


def _describe(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exited with status {returncode}"


class Child:
    """One supervised process: its command, the current process, and its recent deaths."""

    def __init__(self, name: str, cmd: list[str], pass_fds: tuple[int, ...] = ()):
        self.name = name
        self.cmd = cmd
        self.pass_fds = pass_fds
        self.proc: subprocess.Popen | None = None
        self.deaths: deque[float] = deque()
        self.restart_at: float | None = None
        self.ready = 0  # how many times it said it was ready (gunicorn: once per worker)
        self.relay: threading.Thread | None = None

    def start(self) -> None:
        # Own process group per child, so the terminal's Ctrl-C reaches us once and we decide,
        # and so what is left of a dead child (its pool or worker processes) can be killed.
        self.proc = subprocess.Popen(
            self.cmd,
            start_new_session=True,
            env=child_environment(),
            pass_fds=self.pass_fds,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self.restart_at = None
        self.relay = threading.Thread(
            target=self._pass_on, args=(self.proc.stdout,), name=f"relay-{self.name}", daemon=True
        )
        self.relay.start()

    def _pass_on(self, stream) -> None:
        """Copy the child's output to ours, line by line, noting when it says it is ready."""
        mark = READY_MARKS.get(self.name)
        with stream:
            for line in iter(stream.readline, b""):
                _write(line)
                if mark and mark in line:  # counted once passed on: the URL comes after it
                    self.ready += 1

    def kill_leftovers(self) -> None:
        """After the leader died: its workers may still hold connections or a task; kill them."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)


def _settings() -> tuple[int, str, int, float, int]:
    """The launcher's own settings (after locker.env); a wrong one ends the start in a line."""
    try:
        envfile.load()
        return (
            env_port("PORT", 8000),
            env_str("LOCKER_BIND", "127.0.0.1"),
            env_int("LOCKER_RUN_RESTART_LIMIT", 5),
            env_duration("LOCKER_RUN_RESTART_WINDOW", "60s"),
            env_int("LOCKER_WEB_WORKERS", 2),
        )
    except ImproperlyConfigured as exc:
        refuse(str(exc))


def _ensure_admin() -> str:
    """`manage.py ensureadmin`: its output (the first-run credentials, or nothing). It also
    proves the settings and the database; when it fails, the start ends with its status (it has
    said why on standard error, in one line for a wrong setting or an unreachable database)."""
    done = subprocess.run(
        [sys.executable, str(BASE_DIR / "manage.py"), "ensureadmin"],
        cwd=BASE_DIR,
        env=child_environment(),
        stdout=subprocess.PIPE,
        check=False,
        # A Ctrl-C meanwhile is ours to handle (below), not a traceback of the command's.
        start_new_session=True,
    )
    if done.returncode != 0:
        sys.stdout.buffer.write(done.stdout)
        raise SystemExit(done.returncode)
    return done.stdout.decode(errors="replace")


def _announce(children: list["Child"], web_workers: int, credentials: str, late: bool) -> None:
    lines = [credentials.rstrip("\n")] if credentials.strip() else []
    if late:
        waiting = [
            child.name
            for child in children
            if child.ready < (web_workers if child.name == "web" else 1)
        ]
        lines.append(
            f"locker.run: {' and '.join(waiting)} not ready after {READY_TIMEOUT:g} s; "
            "the log above says why."
        )
    lines.append(f"Locker is running at {base_url()}/  (Ctrl-C stops it)")
    _write(("\n".join(lines) + "\n").encode())


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    port, bind, limit, window, web_workers = _settings()
    listener = listen(bind, port)
    if "--check" in argv:
        listener.close()
        return 0
    stopping = False

    def stop(*_args):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    credentials = _ensure_admin()
    if stopping:  # Ctrl-C while the administrator was being made: nothing started yet
        listener.close()
        return 130
    fd = listener.fileno()
    children = [
        Child(name, cmd, pass_fds=(fd,) if name == "web" else ())
        for name, cmd in _commands(port, bind, fd, web_workers).items()
    ]
    if not os.environ.get(MULTIPROC_ENV):
        # Web workers, Celery's pool and beat all count into one fresh directory (/metrics).
        prepare_multiprocess_dir()
    for child in children:
        child.start()
    started = time.monotonic()
    announced = False
    exit_code = 0
    while not stopping:
        now = time.monotonic()
        if not announced:
            ready = all(
                child.ready >= (web_workers if child.name == "web" else 1) for child in children
            )
            if ready or now - started > READY_TIMEOUT:
                _announce(children, web_workers, credentials, late=not ready)
                announced = True
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
        # The last of its output (its goodbye) is passed on before we exit.
        child.relay.join(timeout=5)
    listener.close()
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
