"""The directory where every process of one start counts its metrics (locker/metrics.py).

prometheus_client chooses between counting in process memory and counting into files under
`PROMETHEUS_MULTIPROC_DIR` when it is first imported, so the variable is set before any process
that counts imports it: by the launcher (locker/run.py) for all its children (web, worker,
beat), or by gunicorn's arbiter (locker/gunicorn_conf.py) when gunicorn is started on its own,
before it forks a worker. This module therefore imports nothing of prometheus_client at import.
"""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

from locker.env import env_str

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def default_data_dir() -> Path:
    """settings.DATA_DIR, computed the same way without loading the settings."""
    base = Path(__file__).resolve().parent.parent
    return Path(env_str("LOCKER_DATA_DIR", str(base / "data"))).resolve()


def prepare_multiprocess_dir(data_dir: Path | None = None) -> Path:
    """Empty (or create) `<data dir>/metrics/<host name>`, the directory every process of this
    start counts into, and name it in this process's environment, which its children inherit.

    Once per start, before a counting process starts: the files of a previous run hold counts
    of processes that are gone (whose pids may be reused now). The host name keeps apart the
    containers or nodes that share one data volume: their process ids collide, and files named
    after them must not be shared."""
    path = (data_dir or default_data_dir()) / "metrics" / socket.gethostname()
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True, mode=0o700)
    os.environ[MULTIPROC_ENV] = str(path)
    return path


def process_exited(pid: int) -> None:
    """A counting process ended: drop what only a live process reports (its counters stay)."""
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)
