"""Real background services for the worker tests: clamd with an EICAR signature, Celery workers.

A worker is a separate `celery -A locker worker` process with the same settings environment as
the test process, pointed at the test database and at a broker queue of its own (a fresh name
per run), so messages left by other runs or other tests never reach it.
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings

from files.scanning import ClamdScanner
from locker.broker import transport_options as broker_transport_options
from locker.celery import app as celery_app

BASE_DIR = Path(__file__).resolve().parents[2]
EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
CLAMD = "/usr/sbin/clamd"


def wait_for(predicate, *, timeout: float = 30, what: str = "the condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"Timed out waiting for {what}.")


# --- clamd ------------------------------------------------------------------------------------


class Clamd:
    """clamd from Debian's clamav-daemon with two signatures made for EICAR, on a Unix socket."""

    def __init__(self, root: Path):
        self.root = root
        self.socket = root / "clamd.sock"
        self.url = f"unix://{self.socket}"
        self.proc: subprocess.Popen | None = None
        (root / "db").mkdir()
        (root / "tmp").mkdir()
        (root / "db" / "locker.ndb").write_text(f"Locker.Test.EICAR.NDB:0:*:{EICAR.hex()}\n")
        (root / "clamd.conf").write_text(
            "\n".join(
                [
                    f"LocalSocket {self.socket}",
                    "LocalSocketMode 660",
                    f"DatabaseDirectory {root / 'db'}",
                    f"TemporaryDirectory {root / 'tmp'}",
                    f"PidFile {root / 'clamd.pid'}",
                    "Foreground yes",
                    f"LogFile {root / 'clamd.log'}",
                    "StreamMaxLength 1M",
                    "MaxFileSize 1M",
                    "MaxScanSize 4M",
                    "",
                ]
            )
        )

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [CLAMD, "-c", str(self.root / "clamd.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        scanner = ClamdScanner(self.url, timeout=5)
        wait_for(scanner.ping, timeout=60, what="clamd to answer PING")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        self.socket.unlink(missing_ok=True)


@pytest.fixture(scope="session")
def clamd():
    root = Path(tempfile.mkdtemp(prefix="locker-clamd-"))
    server = Clamd(root)
    server.start()
    yield server
    server.stop()
    shutil.rmtree(root, ignore_errors=True)


# --- brokers and workers ----------------------------------------------------------------------


def redis_broker_url() -> str:
    """CI's broker when it is Redis, else the local Redis (db 5); queues are per run anyway."""
    configured = os.environ.get("CELERY_BROKER_URL", "")
    if configured.startswith("redis://"):
        return configured
    return "redis://127.0.0.1:6379/5"


def _filesystem_options() -> dict:
    return broker_transport_options(Path(settings.DATA_DIR) / "broker")


def use_broker(url: str, queue: str) -> dict:
    """Point this process's Celery app (what files_create publishes with) at a broker and queue.

    Returns the previous configuration for restore_broker()."""
    conf = celery_app.conf
    previous = {
        "broker_url": conf.broker_url,
        "broker_write_url": conf.get("broker_write_url"),
        "broker_transport_options": conf.broker_transport_options,
        "task_default_queue": conf.task_default_queue,
    }
    conf.broker_url = url
    # Celery prefers the CELERY_BROKER_URL environment variable over broker_url (CI sets it);
    # producers use broker_write_url first, which the environment leaves alone.
    conf.broker_write_url = url
    conf.broker_transport_options = (
        _filesystem_options() if url.startswith("filesystem://") else {"visibility_timeout": 4}
    )
    conf.task_default_queue = queue
    _reset_pools()
    return previous


def restore_broker(previous: dict) -> None:
    for key, value in previous.items():
        setattr(celery_app.conf, key, value)
    _reset_pools()


def _reset_pools() -> None:
    from kombu import pools

    pools.reset()  # kombu's registry keeps one producer pool per broker; drop them all
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


def database_url() -> str:
    """The test database (a file on SQLite, test_<name> on PostgreSQL) as a DATABASE_URL."""
    from django.db import connection

    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    from urllib.parse import quote

    user = quote(db.get("USER") or "", safe="")
    password = quote(db.get("PASSWORD") or "", safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    return f"postgres://{auth}{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


class Worker:
    """One `celery -A locker worker` process consuming one queue: the solo pool (tasks run in
    the worker process), or `pool="prefork"` (one pool child process runs them)."""

    def __init__(
        self,
        *,
        broker: str,
        queue: str,
        env: dict[str, str],
        log_dir: Path,
        pool: str = "solo",
    ):
        self.broker = broker
        self.queue = queue
        self.extra_env = env
        self.log_dir = log_dir
        self.pool = pool
        self.proc: subprocess.Popen | None = None
        self.log: Path | None = None
        self.starts = 0

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "DATABASE_URL": database_url(),
                "CELERY_BROKER_URL": self.broker,
                "LOCKER_CELERY_QUEUE": self.queue,
                "LOCKER_CELERY_VISIBILITY_TIMEOUT": "4",
                "LOCKER_SCAN_RETRY_BACKOFF": "1",
                "LOCKER_DATA_DIR": str(settings.DATA_DIR),
                "LOCKER_MASTER_KEYS": settings.LOCKER_MASTER_KEYS,
                "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
            }
        )
        env.update(self.extra_env)
        return env

    def start(self) -> None:
        self.starts += 1
        self.log = self.log_dir / f"worker-{self.queue}-{self.starts}.log"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "locker",
                "worker",
                f"--pool={self.pool}",
                *(["--concurrency=1"] if self.pool == "prefork" else []),
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "--loglevel=INFO",
                "-Q",
                self.queue,
                "-n",
                f"{self.queue}-{self.starts}@%h",
            ],
            cwd=BASE_DIR,
            env=self.environment(),
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for(
            lambda: b" ready." in self.log.read_bytes() or self.proc.poll() is not None,
            timeout=60,
            what="the worker to start",
        )
        assert self.proc.poll() is None, self.log.read_text(errors="replace")[-3000:]

    def pool_children(self) -> list[int]:
        """Pids of the worker process's children (its pool processes under prefork)."""
        path = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        return [int(pid) for pid in path.read_text().split()]

    def kill(self) -> None:
        """SIGKILL the whole worker: no clean shutdown, no chance to ack or requeue."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log else ""


@pytest.fixture(scope="session")
def worker_logs():
    path = Path(tempfile.mkdtemp(prefix="locker-workers-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def start_worker(worker_logs, django_db_blocker):
    """Start workers (same settings env + the test database); all are stopped at the end."""
    started: list[Worker] = []
    previous_brokers: list[dict] = []

    def start(
        *, broker: str | None = None, env: dict[str, str] | None = None, pool: str = "solo"
    ) -> Worker:
        broker = broker or redis_broker_url()
        queue = f"locker-test-{uuid.uuid4().hex[:12]}"
        previous_brokers.append(use_broker(broker, queue))
        worker = Worker(broker=broker, queue=queue, env=env or {}, log_dir=worker_logs, pool=pool)
        worker.start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()
    if previous_brokers:
        restore_broker(previous_brokers[0])


def clamav_env(clamd: Clamd) -> dict[str, str]:
    return {"LOCKER_SCANNER": "clamav", "LOCKER_CLAMD_URL": clamd.url}


@pytest.fixture(scope="session")
def clamav_worker(django_db_setup, django_db_blocker, clamd, worker_logs):
    """One worker for the session (Redis broker, clamd scanner), on a queue of its own."""
    queue = f"locker-test-{uuid.uuid4().hex[:12]}"
    broker = redis_broker_url()
    with django_db_blocker.unblock():
        worker = Worker(broker=broker, queue=queue, env=clamav_env(clamd), log_dir=worker_logs)
        worker.start()
    yield worker
    worker.stop()


@pytest.fixture
def on_clamav_worker(clamav_worker, scanner_settings):
    """Publish to the session worker's queue during this test."""
    previous = use_broker(clamav_worker.broker, clamav_worker.queue)
    yield clamav_worker
    restore_broker(previous)


@pytest.fixture
def scanner_settings(settings, clamd):
    """This process's settings match the worker's: new files start pending."""
    settings.LOCKER_SCANNER = "clamav"
    settings.LOCKER_CLAMD_URL = clamd.url
    return settings
