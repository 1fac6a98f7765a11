"""Prometheus metrics that the code counts as things happen (docs/operations.md, "Metrics").

The counters and histograms here are incremented by the ways in (the middleware below, the
upload intake, the download responses, the scanner, Celery's task signals); what is measured at
scrape time (uploads in progress, queue depth, storage used) is read by the `metrics` app when
`/metrics` is asked.

gunicorn runs several worker processes and Celery its pool: each process counts into files of
its own under `PROMETHEUS_MULTIPROC_DIR` (prometheus_client's multiprocess mode), and a scrape,
answered by any one process, adds them all up (locker/metrics_setup.py prepares it); without
it (runserver, the test process) each process counts for itself.
"""

from __future__ import annotations

import os
import threading
import time
from types import SimpleNamespace

from locker.metrics_setup import process_exited

_made: SimpleNamespace | None = None
_making = threading.Lock()


def instruments() -> SimpleNamespace:
    """The counters and histograms, made on first use in the process that counts.

    Not at import: importing `locker` (as gunicorn's arbiter does for its configuration, before
    it names the metrics directory) imports this module, and prometheus_client fixes its mode
    when it is first imported; a worker forked from an arbiter that had imported it would count
    in its own memory, invisible to the scrape."""
    global _made
    if _made is None:
        with _making:  # two threads of a worker: the metrics are registered once
            if _made is None:
                _made = _make()
    return _made


def _make() -> SimpleNamespace:
    from prometheus_client import Counter, Histogram

    return SimpleNamespace(
        http_requests=Counter(
            "locker_http_requests",
            "HTTP requests answered, by route (the URL pattern's name, never the path), method "
            "and status.",
            ["route", "method", "status"],
        ),
        http_latency=Histogram(
            "locker_http_request_duration_seconds",
            "Time until the response started (a download's transfer is not included), by route.",
            ["route", "method"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        ),
        upload_bytes=Counter(
            "locker_upload_bytes",
            "File bytes received from clients, by protocol (multipart form or API, tus).",
            ["protocol"],
        ),
        download_bytes=Counter(
            "locker_download_bytes",
            "File bytes sent to clients (content, ranges, thumbnails, ZIP archives), by kind.",
            ["kind"],
        ),
        tasks=Counter(
            "locker_celery_tasks",
            "Celery tasks that ended, by task name and outcome (success, failure, retry).",
            ["task", "outcome"],
        ),
        scans=Counter(
            "locker_scans",
            "Virus scan verdicts recorded, by result (clean, infected, error).",
            ["result"],
        ),
    )


METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


# --- HTTP -------------------------------------------------------------------------------------


def route_of(request, response) -> str:
    """The label of a request: its URL pattern's name (or the pattern itself when unnamed).

    Never the path: paths hold share-link tokens and ids, and one series per path would grow
    without bound."""
    match = getattr(request, "resolver_match", None)
    if match is not None:
        return match.view_name or match.route or "unnamed"
    if response.__class__.__name__ == "WhiteNoiseFileResponse":
        return "static"
    return "unmatched"


class MetricsMiddleware:
    """Counts every request by route, method and status, and the time until its answer.

    First in MIDDLEWARE, so that it times the whole stack; no database query."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        elapsed = time.perf_counter() - started
        route = route_of(request, response)
        method = request.method if request.method in METHODS else "other"
        counted = instruments()
        counted.http_requests.labels(route, method, str(response.status_code)).inc()
        counted.http_latency.labels(route, method).observe(elapsed)
        return response


# --- Transfers --------------------------------------------------------------------------------


def uploaded(protocol: str, nbytes: int) -> None:
    if nbytes:
        instruments().upload_bytes.labels(protocol).inc(nbytes)


class CountedStream:
    """An iterator over `chunks` that counts each chunk as downloaded when it is handed to the
    server; close() reaches `chunks` (storage readers must be closed)."""

    def __init__(self, chunks, kind: str):
        self._chunks = iter(chunks)
        self._source = chunks
        self._counter = instruments().download_bytes.labels(kind)

    def __iter__(self):
        return self

    def __next__(self) -> bytes:
        chunk = next(self._chunks)
        self._counter.inc(len(chunk))
        return chunk

    def close(self) -> None:
        close = getattr(self._source, "close", None)
        if close is not None:
            close()


def scanned(result: str) -> None:
    instruments().scans.labels(result).inc()


# --- Celery -----------------------------------------------------------------------------------


def connect_celery_signals() -> None:
    """Count task outcomes in the worker processes, and tidy up after a pool process exits."""
    from celery.signals import task_failure, task_retry, task_success, worker_process_shutdown

    def _name(sender) -> str:
        return getattr(sender, "name", None) or "unknown"

    def on_success(sender=None, **_kwargs):
        instruments().tasks.labels(_name(sender), "success").inc()

    def on_failure(sender=None, **_kwargs):
        instruments().tasks.labels(_name(sender), "failure").inc()

    def on_retry(sender=None, **_kwargs):
        instruments().tasks.labels(_name(sender), "retry").inc()

    def on_process_shutdown(**_kwargs):
        process_exited(os.getpid())

    task_success.connect(on_success, weak=False)
    task_failure.connect(on_failure, weak=False)
    task_retry.connect(on_retry, weak=False)
    worker_process_shutdown.connect(on_process_shutdown, weak=False)
