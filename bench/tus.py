"""Resumable (tus) upload through the real server: throughput and server memory.

    python bench/tus.py                 # 1 GiB in 8 MiB chunks, 3 rounds
    python bench/tus.py --quick         # 64 MiB, one round (smoke run)
    python bench/tus.py --size 4G --chunk 16M

Starts Locker as `make run` does (bench/_server.py: gunicorn + Celery, embedded defaults, fresh
data dir), creates the upload with `POST /api/v1/tus/` and sends every chunk as a `PATCH` whose
body is streamed from disk with `socket.sendfile`, over one keep-alive connection. The time runs
from the POST to the answer of the last PATCH, so it includes the completion work: publishing
the object, reading it once more to compute the SHA-256 (see docs/tus.md) and creating the file.
The recorded SHA-256 must equal the file's. Server RSS growth is sampled over the whole process
tree as in bench/transfer.py. Bars: ≥ 150 MB/s and ≤ 64 MiB of RSS growth.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._server import (  # noqa: E402
    LockerServer,
    MemoryWatch,
    _split,
    cpu_count,
    load_average,
    make_random_file,
    parse_json,
    rmtree,
)
from bench.transfer import Failed, delta, tail, warm_up  # noqa: E402
from locker.env import parse_size  # noqa: E402

MiB = 1024 * 1024
THROUGHPUT_BAR_MB_S = 150.0
RSS_BAR = 64 * MiB


def tus_upload(base_url: str, token: str, path: Path, name: str, chunk: int):
    """Upload path with tus; returns (seconds, Locker-File-Id, seconds of the last PATCH)."""
    size = path.stat().st_size
    host, port, _ = _split(base_url)
    conn = http.client.HTTPConnection(host, port, timeout=3600)
    auth = {"Authorization": f"Bearer {token}", "Tus-Resumable": "1.0.0"}
    try:
        start = time.perf_counter()
        meta = "filename " + base64.b64encode(name.encode()).decode()
        conn.request(
            "POST",
            "/api/v1/tus/",
            headers={**auth, "Upload-Length": str(size), "Upload-Metadata": meta},
        )
        response = conn.getresponse()
        body = response.read()
        if response.status != 201:
            raise Failed(f"creation answered {response.status}: {body[:300]!r}")
        _h, _p, target = _split(response.getheader("Location"))
        offset = 0
        file_id = ""
        with open(path, "rb") as fh:
            while offset < size:
                count = min(chunk, size - offset)
                conn.putrequest("PATCH", target)
                for key, value in auth.items():
                    conn.putheader(key, value)
                conn.putheader("Content-Type", "application/offset+octet-stream")
                conn.putheader("Upload-Offset", str(offset))
                conn.putheader("Content-Length", str(count))
                conn.endheaders()
                conn.sock.sendfile(fh, offset, count)
                sent = time.perf_counter()
                response = conn.getresponse()
                body = response.read()
                if response.status != 204:
                    raise Failed(f"PATCH at {offset} answered {response.status}: {body[:300]!r}")
                offset = int(response.getheader("Upload-Offset"))
                file_id = response.getheader("Locker-File-Id") or file_id
        end = time.perf_counter()
        return end - start, file_id, end - sent
    finally:
        conn.close()


def file_sha256(base_url: str, token: str, file_id: str) -> str:
    host, port, _ = _split(base_url)
    conn = http.client.HTTPConnection(host, port, timeout=60)
    try:
        conn.request(
            "GET", f"/api/v1/files/{file_id}/", headers={"Authorization": f"Bearer {token}"}
        )
        response = conn.getresponse()
        return parse_json(response.read()).get("sha256", "")
    finally:
        conn.close()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1G")
    parser.add_argument("--chunk", default="8M")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="64 MiB, one round")
    parser.add_argument("--workdir", help="where the data dir and the file go (default /tmp)")
    args = parser.parse_args(argv)
    size = 64 * MiB if args.quick else parse_size(args.size)
    chunk = parse_size(args.chunk)
    repeat = 1 if args.quick else max(1, args.repeat)

    work = Path(tempfile.mkdtemp(prefix="locker-bench-tus-", dir=args.workdir))
    server = LockerServer(work / "data")
    print(f"work dir {work}; {cpu_count()} CPUs; load average {load_average()}")
    rates: list[float] = []
    growths: list[int] = []
    try:
        server.prepare()
        server.start()
        warm_up(server, work)
        path = work / "random.bin"
        sha256 = make_random_file(path, size)
        print(f"{size / MiB:.0f} MiB in {chunk / MiB:.0f} MiB chunks", flush=True)
        web = lambda cmd: "gunicorn" in cmd  # noqa: E731
        for round_ in range(1, repeat + 1):
            with MemoryWatch(server.proc.pid, web) as mem:
                seconds, file_id, last = tus_upload(
                    server.base_url, server.token, path, f"tus-{round_}.bin", chunk
                )
            recorded = file_sha256(server.base_url, server.token, file_id)
            if recorded != sha256:
                raise Failed(f"the server recorded SHA-256 {recorded}, the file has {sha256}")
            rate = size / seconds / 1e6
            rates.append(rate)
            growths.append(mem.worst_growth)
            print(
                f"  round {round_}: {rate:6.0f} MB/s in {seconds:.1f} s (last chunk answered "
                f"{last:.1f} s after it was sent)  cpu {mem.cpu:5.1f} s  rss "
                f"{delta(mem.worst_growth)} (sampled {delta(mem.growth)}, peak-rss "
                f"{delta(mem.hwm_growth)})  sha256 ok",
                flush=True,
            )
    except (Failed, RuntimeError, OSError) as exc:
        print(f"\nFAIL: {exc}\n-- last lines of the server log:")
        print(tail(server.log_path))
        return 1
    finally:
        server.stop()
        rmtree(work)
    best, worst_rss = max(rates), max(growths)
    print(f"\nload average after: {load_average()}")
    ok_rate = best >= THROUGHPUT_BAR_MB_S
    ok_rss = worst_rss <= RSS_BAR
    print(f"{'PASS' if ok_rate else 'FAIL'} tus upload {best:.0f} MB/s (bar ≥ 150 MB/s, best run)")
    print(f"{'PASS' if ok_rss else 'FAIL'} server RSS growth {delta(worst_rss)} (bar ≤ 64 MiB)")
    return 0 if ok_rate and ok_rss else 1


if __name__ == "__main__":
    sys.exit(main())
