"""Memory of each web worker under many concurrent downloads, on local disk and on S3.

    python bench/concurrency.py                          # local and S3, 200 clients, 8 threads
    python bench/concurrency.py --backends s3 --threads 8,32
    python bench/concurrency.py --quick                  # 40 clients, 2 files of 16 MiB

Starts Locker as `make run` does (`python -m locker.run`: gunicorn gthread with
LOCKER_WEB_WORKERS workers of LOCKER_WEB_THREADS threads, Celery worker and beat) in a temporary
data dir with the embedded defaults, either on local disk or on a real SeaweedFS S3 server
(`weed mini` from the venv, started as the test fixture starts it). It uploads a few random files,
then starts all the clients at once (one thread each), each downloading one file through
`GET /api/v1/files/<id>/content` and throwing the bytes away, while a thread samples every
gunicorn worker's VmRSS (and the kernel's VmHWM, reset just before) and its thread count.

Per worker it prints the idle RSS before the load, the median RSS while the downloads run, the
peak (the larger of the sampled peak and VmHWM), the RSS a few seconds after the last download,
and the most threads seen at once (request threads plus one read-ahead helper per long transfer).
Byte counts are checked on every download, and one more download per file is hashed against the
uploaded file's SHA-256. It measures; it does not assert a bar. Exit status 1 on a wrong transfer.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._server import (  # noqa: E402
    LockerServer,
    _split,
    cmdline,
    cpu_count,
    download,
    load_average,
    make_random_file,
    parse_json,
    process_tree,
    reset_hwm,
    rmtree,
    upload_multipart,
)
from locker.env import parse_size  # noqa: E402

MiB = 1024 * 1024
READ_SIZE = 256 * 1024


def _status(pid: int) -> dict[str, int]:
    values = {}
    try:
        with open(f"/proc/{pid}/status", "rb") as fh:
            for line in fh:
                key, _, rest = line.partition(b":")
                if key in (b"VmRSS", b"VmHWM", b"Threads"):
                    values[key.decode()] = int(rest.split()[0])
    except OSError:
        pass
    return values


def gunicorn_workers(server: LockerServer) -> list[int]:
    """PIDs of the gunicorn workers (children of the gunicorn master)."""
    tree = process_tree(server.proc.pid)
    masters = [
        pid for pid in tree if "gunicorn" in cmdline(pid) and _parent(pid) == server.proc.pid
    ]
    return sorted(pid for pid in tree if pid not in masters and _parent(pid) in masters)


def _parent(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return int(fh.read().rsplit(b")", 1)[1].split()[1])
    except OSError:
        return -1


@dataclass
class WorkerMemory:
    pid: int
    idle: int = 0
    samples: list[int] = field(default_factory=list)
    hwm: int = 0
    threads: int = 0
    after: int = 0

    @property
    def peak(self) -> int:
        return max([self.hwm, *self.samples])

    @property
    def median(self) -> int:
        return int(statistics.median(self.samples)) if self.samples else 0


class WorkerWatch:
    """Samples VmRSS and the thread count of each worker every `interval` seconds."""

    def __init__(self, pids: list[int], interval: float = 0.05):
        self.workers = [WorkerMemory(pid) for pid in pids]
        self.interval = interval
        self.hwm_reset = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        for worker in self.workers:
            worker.idle = _status(worker.pid).get("VmRSS", 0) * 1024
        self.hwm_reset = reset_hwm([worker.pid for worker in self.workers])
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            for worker in self.workers:
                status = _status(worker.pid)
                if "VmRSS" in status:
                    worker.samples.append(status["VmRSS"] * 1024)
                    worker.threads = max(worker.threads, status.get("Threads", 0))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        for worker in self.workers:
            status = _status(worker.pid)
            if self.hwm_reset:
                worker.hwm = status.get("VmHWM", 0) * 1024

    def settle(self, seconds: float) -> None:
        time.sleep(seconds)
        for worker in self.workers:
            worker.after = _status(worker.pid).get("VmRSS", 0) * 1024


@dataclass
class Result:
    nbytes: int = 0
    status: int = 0
    first_byte: float = 0.0
    seconds: float = 0.0
    error: str = ""


def timed_download(url: str, token: str, start: threading.Barrier) -> Result:
    """GET url, throwing the body away; the time to the response head and to the last byte."""
    host, port, target = _split(url)
    result = Result()
    buffer = bytearray(READ_SIZE)
    conn = http.client.HTTPConnection(host, port, timeout=600)
    try:
        start.wait()
        t0 = time.perf_counter()
        conn.request("GET", target, headers={"Authorization": f"Bearer {token}"})
        response = conn.getresponse()
        result.first_byte = time.perf_counter() - t0
        result.status = response.status
        while n := response.readinto(buffer):
            result.nbytes += n
        result.seconds = time.perf_counter() - t0
    except OSError as exc:
        result.error = f"{type(exc).__name__}: {exc}"
    finally:
        conn.close()
    return result


class Failed(Exception):
    pass


@contextlib.contextmanager
def s3_env(backend: str):
    """Locker's environment variables for the backend (a SeaweedFS server for s3)."""
    if backend == "local":
        yield {}
        return
    from tests.fixtures.s3 import seaweedfs

    with seaweedfs() as s3:
        yield {
            "LOCKER_STORAGE": "s3",
            "LOCKER_S3_BUCKET": s3.bucket,
            "LOCKER_S3_ENDPOINT_URL": s3.endpoint_url,
            "LOCKER_S3_REGION": s3.region,
            "LOCKER_S3_ACCESS_KEY_ID": s3.access_key,
            "LOCKER_S3_SECRET_ACCESS_KEY": s3.secret_key,
        }


def run_one(args, *, backend: str, threads: int, work: Path, files: list[tuple[Path, str]]):
    data = work / f"data-{backend}-{threads}"
    with s3_env(backend) as extra:
        extra = {
            **extra,
            "LOCKER_WEB_WORKERS": str(args.workers),
            "LOCKER_WEB_THREADS": str(threads),
            **dict(item.split("=", 1) for item in args.env),
        }
        server = LockerServer(data, extra_env=extra)
        try:
            server.prepare()
            server.start()
            return measure(args, server=server, backend=backend, threads=threads, files=files)
        finally:
            server.stop()
            rmtree(data)


def measure(args, *, server: LockerServer, backend: str, threads: int, files):
    base = server.base_url
    uploaded = []
    for i, (path, sha256) in enumerate(files):
        result = upload_multipart(
            base + "/api/v1/files/", path, name=f"c{i}.bin", token=server.token, sha256=sha256
        )
        body = parse_json(result.body)
        if result.status != 201:
            raise Failed(f"upload answered {result.status}: {body}")
        uploaded.append((body["id"], sha256, path.stat().st_size))
    # Warm every worker up (URLconf, database connection, storage client) with a few requests.
    for _ in range(4 * args.workers):
        for file_id, _sha, _size in uploaded:
            download(f"{base}/api/v1/files/{file_id}/content", token=server.token)
    time.sleep(1.0)

    workers = gunicorn_workers(server)
    if len(workers) != args.workers:
        raise Failed(f"found {len(workers)} gunicorn workers, expected {args.workers}")
    watch = WorkerWatch(workers)
    barrier = threading.Barrier(args.clients + 1)
    results: list[Result | None] = [None] * args.clients

    def client(index: int) -> None:
        file_id = uploaded[index % len(uploaded)][0]
        results[index] = timed_download(
            f"{base}/api/v1/files/{file_id}/content", server.token, barrier
        )

    pool = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
    for thread in pool:
        thread.start()
    watch.start()
    cpu_before = os.times()
    barrier.wait()
    t0 = time.perf_counter()
    for thread in pool:
        thread.join()
    elapsed = time.perf_counter() - t0
    watch.stop()
    watch.settle(args.settle)
    client_cpu = sum(os.times()[:2]) - sum(cpu_before[:2])

    wrong = [
        (i, r)
        for i, r in enumerate(results)
        if r is None or r.error or r.status != 200 or r.nbytes != uploaded[i % len(uploaded)][2]
    ]
    for file_id, sha256, _size in uploaded:
        verified = download(
            f"{base}/api/v1/files/{file_id}/content", token=server.token, verify=True
        )
        if verified.sha256 != sha256:
            raise Failed(f"file {file_id}: the downloaded SHA-256 differs from the upload's")
    total = sum(r.nbytes for r in results if r is not None)
    ttfb = sorted(r.first_byte for r in results if r is not None and not r.error)
    return {
        "backend": backend,
        "threads": threads,
        "workers": watch.workers,
        "hwm": watch.hwm_reset,
        "elapsed": elapsed,
        "bytes": total,
        "ttfb": ttfb,
        "wrong": wrong,
        "client_cpu": client_cpu,
    }


def mib(n: int) -> str:
    return f"{n / MiB:6.1f}"


def report(run: dict, clients: int) -> None:
    ttfb = run["ttfb"] or [0.0]
    print(
        f"\n{run['backend']}, {len(run['workers'])} workers x {run['threads']} threads,"
        f" {clients} concurrent downloads: {run['bytes'] / 1e9:.2f} GB in {run['elapsed']:.1f} s"
        f" ({run['bytes'] / run['elapsed'] / 1e6:.0f} MB/s aggregate); time to response head"
        f" min {ttfb[0]:.2f} s, median {statistics.median(ttfb):.2f} s, max {ttfb[-1]:.2f} s"
    )
    hwm = "VmHWM" if run["hwm"] else "sampled only: VmHWM reset not permitted"
    print(f"  worker     idle  during(median)  peak ({hwm})  after   growth  threads (max)")
    for w in run["workers"]:
        print(
            f"  {w.pid:>7} {mib(w.idle)}  {mib(w.median)}          {mib(w.peak)}"
            f"         {mib(w.after)}  {mib(w.peak - w.idle)}  {w.threads:>4}   MiB"
        )
    if run["wrong"]:
        i, r = run["wrong"][0]
        detail = r.error if r else "no result"
        print(f"  WRONG: {len(run['wrong'])} downloads failed; first: client {i} {r} {detail}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="local,s3", help="local, s3 or local,s3")
    parser.add_argument("--clients", type=int, default=200, help="concurrent downloads")
    parser.add_argument("--files", type=int, default=4, help="distinct files downloaded")
    parser.add_argument("--size", default="64M", help="size of each file (e.g. 64M, 256M)")
    parser.add_argument("--workers", type=int, default=2, help="LOCKER_WEB_WORKERS")
    parser.add_argument("--threads", default="8", help="LOCKER_WEB_THREADS; a list runs each")
    parser.add_argument("--settle", type=float, default=3.0, help="seconds before 'after'")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting for the server, e.g. LOCKER_READ_AHEAD_MEMORY=0 (repeatable)",
    )
    parser.add_argument("--quick", action="store_true", help="40 clients, 2 files of 16 MiB")
    parser.add_argument("--workdir", help="where the data dir and files go (default: /tmp)")
    args = parser.parse_args(argv)
    if any("=" not in item for item in args.env):
        parser.error("--env takes NAME=VALUE")
    if args.quick:
        args.clients, args.files, args.size = 40, 2, "16M"
    size = parse_size(args.size)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    thread_counts = [int(t) for t in args.threads.split(",")]

    work = Path(tempfile.mkdtemp(prefix="locker-concurrency-", dir=args.workdir))
    print(f"work dir {work}; {cpu_count()} CPUs; load average {load_average()}")
    ok = True
    try:
        files = []
        for i in range(args.files):
            path = work / f"file-{i}.bin"
            files.append((path, make_random_file(path, size)))
        for backend in backends:
            for threads in thread_counts:
                print(f"\n== {backend}, {threads} threads per worker", flush=True)
                run = run_one(args, backend=backend, threads=threads, work=work, files=files)
                report(run, args.clients)
                ok = ok and not run["wrong"]
    except (Failed, RuntimeError, OSError) as exc:
        print(f"\nFAIL: {exc}")
        return 1
    finally:
        rmtree(work)
    print(f"\nload average after: {load_average()}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
