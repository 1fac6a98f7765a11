"""Upload and download throughput of the real server, against nginx, with server memory.

    python bench/transfer.py                  # 1 GiB
    python bench/transfer.py --sizes 1G,4G    # 1 GiB and 4 GiB
    python bench/transfer.py --quick          # 64 MiB smoke run, bars shown for information

Starts Locker as `make run` does (`python -m locker.run`: gunicorn gthread, Celery worker and
beat) in a temporary data dir with the embedded defaults (SQLite, local disk, encryption at rest
on), creates a user with an API token, and on loopback, for each size:

- uploads a random file through `POST /api/v1/files/` (multipart, streamed from disk, with the
  `sha256` field so the server verifies it);
- downloads it through `GET /api/v1/files/<id>/content`, once throwing the bytes away (timed)
  and once hashing them (SHA-256 must match; the client's hashing would otherwise cap the rate);
- downloads the same plaintext file from Debian's nginx (sendfile on) with the same client code;
- samples the summed RSS of every server process (launcher tree: gunicorn master and workers,
  Celery) during each transfer, against its idle value just before.

Bars: download ≥ 0.5 × nginx, upload ≥ 200 MB/s, server RSS growth ≤ 64 MiB.
MB/s are 10^6 bytes per second. Each transfer runs --repeat times; the best run is compared with
the bars (the machine may be shared) and every run is printed. Exit status 1 when a bar fails.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._server import (  # noqa: E402
    LockerServer,
    MemoryWatch,
    Nginx,
    cpu_count,
    download,
    load_average,
    make_random_file,
    parse_json,
    rmtree,
    upload_multipart,
)
from locker.env import parse_size  # noqa: E402

MiB = 1024 * 1024
UPLOAD_BAR_MB_S = 200.0
NGINX_RATIO_BAR = 0.5
RSS_BAR = 64 * MiB


def human_size(n: int) -> str:
    for unit, factor in (("GiB", 1024**3), ("MiB", MiB)):
        if n >= factor and n % factor == 0:
            return f"{n // factor} {unit}"
    return f"{n} B"


def mib(n: int) -> str:
    return f"{n / MiB:.1f} MiB"


def delta(n: int) -> str:
    """A signed change in MiB (memory can shrink during a transfer)."""
    value = round(n / MiB, 1)
    return f"{value + 0.0:+.1f} MiB"


def runs_text(values: list[float]) -> str:
    return ", ".join(f"{v:.0f}" for v in values)


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class Failed(Exception):
    pass


def warm_up(server: LockerServer, work: Path) -> None:
    """Let every gunicorn worker import the URLconf and open its database connection first."""
    small = work / "warm-up.bin"
    small.write_bytes(b"warm-up " * 1024)
    for i in range(6):
        result = upload_multipart(
            server.base_url + "/api/v1/files/", small, name=f"warm-up-{i}.bin", token=server.token
        )
        if result.status != 201:
            raise Failed(f"warm-up upload answered {result.status}: {result.body[:300]!r}")
        file_id = parse_json(result.body)["id"]
        download(f"{server.base_url}/api/v1/files/{file_id}/content", token=server.token)
    small.unlink()


def _watch_line(label: str, result, mem: MemoryWatch, size: int, *, rss: bool = True) -> str:
    line = f"  {label:<8} {result.mb_per_s:7.0f} MB/s  cpu {mem.cpu / (size / 1024**3):5.1f} s/GiB"
    if rss:
        line += (
            f"  rss {delta(mem.worst_growth)} (sampled {delta(mem.growth)},"
            f" peak-rss {delta(mem.hwm_growth)})"
        )
    return line


def bench_size(size, *, work, server, nginx, repeat) -> dict:
    plain_dir = work / "plain"
    plain_dir.mkdir(exist_ok=True)
    # nginx's workers run as an unprivileged user: let them reach the (random, public) file.
    work.chmod(0o755)
    plain_dir.chmod(0o755)
    name = f"random-{size}.bin"
    path = plain_dir / name
    t0 = time.perf_counter()
    sha256 = make_random_file(path, size)
    path.chmod(0o644)
    print(f"  generated {human_size(size)} in {time.perf_counter() - t0:.1f} s", flush=True)

    r = {"size": size, "upload": [], "download": [], "nginx": [], "rss": [], "rss_web": []}
    r.update(upload_cpu=[], download_cpu=[], nginx_cpu=[])
    gib = size / 1024**3
    web = lambda cmd: "gunicorn" in cmd  # noqa: E731
    for round_ in range(1, repeat + 1):
        print(f"  round {round_}", flush=True)
        with MemoryWatch(server.proc.pid, web) as mem:
            result = upload_multipart(
                server.base_url + "/api/v1/files/",
                path,
                name=f"{round_}-{name}",
                token=server.token,
                sha256=sha256,
            )
        body = parse_json(result.body)
        if result.status != 201:
            raise Failed(f"upload answered {result.status}: {body.get('detail', body)}")
        if body.get("sha256") != sha256 or body.get("size") != size:
            raise Failed(f"the server recorded {body.get('size')} bytes, {body.get('sha256')}")
        r["upload"].append(result.mb_per_s)
        r["upload_cpu"].append(mem.cpu / gib)
        r["rss"].append(mem.worst_growth)
        r["rss_web"].append(mem.sub_worst_growth)
        print(_watch_line("upload", result, mem, size), flush=True)

        content_url = f"{server.base_url}/api/v1/files/{body['id']}/content"
        with MemoryWatch(server.proc.pid, web) as mem:
            result = download(content_url, token=server.token)
        if result.status != 200 or result.nbytes != size:
            raise Failed(f"download answered {result.status} with {result.nbytes} bytes")
        r["download"].append(result.mb_per_s)
        r["download_cpu"].append(mem.cpu / gib)
        r["rss"].append(mem.worst_growth)
        r["rss_web"].append(mem.sub_worst_growth)
        print(_watch_line("download", result, mem, size), flush=True)

        with MemoryWatch(nginx.proc.pid) as mem:
            result = download(f"{nginx.base_url}/{name}")
        if result.status != 200 or result.nbytes != size:
            raise Failed(f"nginx answered {result.status} with {result.nbytes} bytes")
        r["nginx"].append(result.mb_per_s)
        r["nginx_cpu"].append(mem.cpu / gib)
        print(_watch_line("nginx", result, mem, size, rss=False), flush=True)

    # Once more, hashing what arrives: the content must be exactly what was uploaded.
    with MemoryWatch(server.proc.pid) as mem:
        verified = download(content_url, token=server.token, verify=True)
    if verified.sha256 != sha256:
        raise Failed("the downloaded content's SHA-256 differs from the uploaded file's")
    r["rss"].append(mem.worst_growth)
    r["download_verified"] = verified.mb_per_s
    print(_watch_line("verified", verified, mem, size) + "  sha256 ok", flush=True)
    path.unlink()
    return r


def report(results: list[dict], *, quick: bool) -> bool:
    ok = True

    def bar(label: str, passed: bool, detail: str) -> None:
        nonlocal ok
        ok = ok and passed
        print(f"  {'PASS' if passed else 'FAIL'}  {label:<30} {detail}")

    for r in results:
        up, down, ng = max(r["upload"]), max(r["download"]), max(r["nginx"])
        ratio = down / ng
        print(f"\n{human_size(r['size'])} (best of {len(r['upload'])}; server CPU s per GiB):")
        print(
            f"  upload            {up:7.0f} MB/s  runs {runs_text(r['upload'])}"
            f"  cpu {min(r['upload_cpu']):.1f} s/GiB"
        )
        print(
            f"  download          {down:7.0f} MB/s  runs {runs_text(r['download'])}"
            f"  cpu {min(r['download_cpu']):.1f} s/GiB"
        )
        print(
            f"  nginx download    {ng:7.0f} MB/s  runs {runs_text(r['nginx'])}"
            f"  cpu {min(r['nginx_cpu']):.1f} s/GiB"
        )
        print(f"  download+sha256   {r['download_verified']:7.0f} MB/s  (client hashing; checked)")
        print(f"  download / nginx  {ratio:7.2f}")
        print(f"  server RSS growth {mib(max(r['rss']))} (gunicorn only {mib(max(r['rss_web']))})")
        bar("download >= 0.5 x nginx", ratio >= NGINX_RATIO_BAR, f"{ratio:.2f}")
        bar("upload >= 200 MB/s", up >= UPLOAD_BAR_MB_S, f"{up:.0f} MB/s")
        bar("server RSS growth <= 64 MiB", max(r["rss"]) <= RSS_BAR, mib(max(r["rss"])))
    if quick:
        print("\n(--quick: a smoke run; the bars are for 1 GiB and 4 GiB files.)")
        return True
    print("\nAll bars pass." if ok else "\nSome bars FAIL.")
    return ok


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1G", help="comma-separated sizes, e.g. 1G,4G")
    parser.add_argument("--quick", action="store_true", help="one 64 MiB run (smoke test)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per transfer (best counts)")
    parser.add_argument("--workdir", help="where to put the data dir and files (default: /tmp)")
    parser.add_argument("--keep", action="store_true", help="keep the work dir afterwards")
    args = parser.parse_args(argv)
    sizes = [64 * MiB] if args.quick else [parse_size(s) for s in args.sizes.split(",")]
    repeat = 1 if args.quick else max(1, args.repeat)

    work = Path(tempfile.mkdtemp(prefix="locker-bench-", dir=args.workdir))
    server = LockerServer(work / "data")
    nginx = Nginx(work / "nginx", work / "plain")
    print(f"work dir {work}; {cpu_count()} CPUs; load average {load_average()}")
    try:
        server.prepare()
        server.start()
        nginx.start()
        warm_up(server, work)
        print(f"locker {server.base_url} (log {server.log_path}), nginx {nginx.base_url}")
        results = []
        for size in sizes:
            print(f"\n== {human_size(size)}", flush=True)
            results.append(bench_size(size, work=work, server=server, nginx=nginx, repeat=repeat))
    except (Failed, RuntimeError, OSError) as exc:
        print(f"\nFAIL: {exc}\n-- last lines of the server log:")
        print(tail(server.log_path))
        return 1
    finally:
        server.stop()
        nginx.stop()
        if not args.keep:
            rmtree(work)
    print(f"\nload average after: {load_average()}")
    return 0 if report(results, quick=args.quick) else 1


if __name__ == "__main__":
    sys.exit(main())
