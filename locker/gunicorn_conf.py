"""gunicorn's server hooks, loaded by `--config=python:locker.gunicorn_conf` (locker/run.py).

Metrics: the web workers count into one directory (locker/metrics_setup.py). `make run`'s
launcher prepares it for all its children; gunicorn started without it (the container's `web`
role) prepares one here, in the arbiter, before it forks a worker.
"""

import os

from locker import envfile
from locker.metrics_setup import MULTIPROC_ENV, prepare_multiprocess_dir, process_exited


def on_starting(_server) -> None:
    if not os.environ.get(MULTIPROC_ENV):
        envfile.load()  # LOCKER_DATA_DIR may be set there, as the workers' settings will read it
        prepare_multiprocess_dir()


def child_exit(_server, worker) -> None:
    process_exited(worker.pid)
