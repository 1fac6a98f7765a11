"""Memory per transfer of one node's web worker, in the several-nodes shape, on S3.

    python bench/nodes.py                   # 1, 4 and 8 transfers of 64 MiB at once
    python bench/nodes.py --clients 1,16 --size 32

Needs root (network namespaces). Starts the pair of tests/test_several_nodes.py
(tests/fixtures/nodes.py: two nodes in network namespaces of their own, one gunicorn worker of 8
threads each, a Celery worker each; PostgreSQL, Redis, SeaweedFS and clamd on a bridge) and
drives node B: after a warm-up upload and download, for each count N it sends N uploads of
`--size` MiB at once (multipart, streamed from memory one 1 MiB buffer at a time), then
downloads those N files at once, while a thread samples the VmRSS of B's gunicorn worker every
20 ms. It prints the idle RSS before each round, the peak, and the growth (peak − idle). It
measures; it asserts no bar. Exit status 1 on a failed transfer.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.fixtures.nodes import Node, http, node_pair  # noqa: E402

MiB = 1024 * 1024


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def web_workers(node: Node) -> list[int]:
    pid = node.processes["web"].pid  # `ip netns exec` execs gunicorn: this is its master
    with open(f"/proc/{pid}/task/{pid}/children") as children:
        return [int(child) for child in children.read().split()]


class Peak(threading.Thread):
    def __init__(self, pids: list[int]):
        super().__init__(daemon=True)
        self.pids, self.peak, self.running = pids, 0.0, True

    def run(self):
        while self.running:
            self.peak = max(self.peak, sum(rss_mib(pid) for pid in self.pids))
            time.sleep(0.02)

    def stop(self) -> float:
        self.running = False
        self.join()
        return self.peak


def upload(node: Node, token: str, size: int, name: str) -> str:
    boundary = f"bench-{name}"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    with socket.create_connection((node.address, 8000), timeout=300) as sock:
        sock.sendall(
            (
                f"POST /api/v1/files/ HTTP/1.1\r\nHost: {node.address}:8000\r\n"
                f"Authorization: Bearer {token}\r\n"
                f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
                f"Content-Length: {len(head) + size + len(tail)}\r\nConnection: close\r\n\r\n"
            ).encode()
            + head
        )
        chunk = os.urandom(MiB)
        for _ in range(size // MiB):
            sock.sendall(chunk)
        sock.sendall(tail)
        answer = b""
        while data := sock.recv(65536):
            answer += data
    status_line, _, rest = answer.partition(b"\r\n")
    if b" 201 " not in status_line:
        raise SystemExit(f"upload {name}: {answer[:300]!r}")
    return json.loads(rest.split(b"\r\n\r\n", 1)[1])["id"]


def download(node: Node, token: str, file_id: str, size: int) -> None:
    status, _headers, body = http(
        "GET",
        f"{node.base}/api/v1/files/{file_id}/content",
        headers={"Authorization": f"Bearer {token}"},
        timeout=300,
    )
    if status != 200 or len(body) != size:
        raise SystemExit(f"download {file_id}: {status}, {len(body)} bytes")


def at_once(jobs) -> list:
    """Run the jobs in threads at once; their results, or the first failure raised here (a
    thread's SystemExit would otherwise end only that thread, and the run print figures of
    transfers that failed)."""
    results: list = [None] * len(jobs)
    failures: list[BaseException] = []

    def run(index, job):
        try:
            results[index] = job()
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread below
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]
    return results


def measure(pids: list[int], jobs) -> tuple[float, float, list]:
    idle = sum(rss_mib(pid) for pid in pids)
    watch = Peak(pids)
    watch.start()
    results = at_once(jobs)
    return idle, watch.stop(), results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--clients", default="1,4,8", help="transfers at once, per round")
    parser.add_argument("--size", type=int, default=64, help="MiB per file")
    args = parser.parse_args()
    size = args.size * MiB
    print(f"load average {os.getloadavg()[0]:.1f}; {os.cpu_count()} CPUs", flush=True)
    with node_pair(quota=1024**4) as pair:
        node, token = pair.b, pair.token
        pids = web_workers(node)
        warm = upload(node, token, 16 * MiB, "warm.bin")
        download(node, token, warm, 16 * MiB)
        for count in (int(n) for n in args.clients.split(",")):
            names = [f"u{count}-{i}.bin" for i in range(count)]
            idle, peak, ids = measure(
                pids, [lambda name=name: upload(node, token, size, name) for name in names]
            )
            print(
                f"{count} upload(s) of {args.size} MiB at once: idle {idle:.0f} MiB, "
                f"peak {peak:.0f} MiB, growth {peak - idle:.1f} MiB",
                flush=True,
            )
            idle, peak, _ = measure(
                pids, [lambda fid=fid: download(node, token, fid, size) for fid in ids]
            )
            print(
                f"{count} download(s) of {args.size} MiB at once: idle {idle:.0f} MiB, "
                f"peak {peak:.0f} MiB, growth {peak - idle:.1f} MiB",
                flush=True,
            )
    print(f"load average {os.getloadavg()[0]:.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
