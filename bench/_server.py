"""Helpers for the benches: the real Locker server, nginx, process-tree RSS, HTTP transfers.

Standard library only, so the client side measures nothing but itself.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CHUNK = 1024 * 1024
# Configuration the bench must not inherit: it measures the embedded defaults (SQLite, local
# disk, filesystem broker) in its own data dir, never a developer's or CI's services.
_CONFIG_PREFIXES = ("LOCKER_", "CELERY_", "DJANGO_")
_CONFIG_NAMES = {"DATABASE_URL", "SECRET_KEY", "DEBUG", "ALLOWED_HOSTS", "PORT"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, seconds: float, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the server exited with status {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {seconds:.0f} s")


# --- Process trees and their memory -----------------------------------------------------------


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(b")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    return children


def process_tree(root: int) -> list[int]:
    """root and every process below it."""
    children = _children_map()
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def _status_kib(pid: int, key: bytes) -> int:
    try:
        with open(f"/proc/{pid}/status", "rb") as fh:
            for line in fh:
                if line.startswith(key):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def rss_bytes(pids: list[int]) -> int:
    return sum(_status_kib(pid, b"VmRSS:") for pid in pids) * 1024


def hwm_bytes(pids: list[int]) -> int:
    return sum(_status_kib(pid, b"VmHWM:") for pid in pids) * 1024


_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time the processes have used so far."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / _TICK


def reset_hwm(pids: list[int]) -> bool:
    """Reset each process's peak RSS (VmHWM) to its current RSS; False when not permitted."""
    ok = True
    for pid in pids:
        try:
            with open(f"/proc/{pid}/clear_refs", "w") as fh:
                fh.write("5")
        except OSError:
            ok = False
    return ok


class MemoryWatch:
    """Samples the summed VmRSS of a process tree while a transfer runs, and its CPU time.

    `growth` is the sampled peak minus the idle sum measured at start; `hwm_growth` the same
    from the kernel's own per-process peaks (VmHWM, reset at start), which a short spike
    between two samples cannot escape. Both are reported; the bar uses the larger. The same
    figures are kept for the subset of processes whose command line `select` accepts.

    Cheap on purpose (the client shares the machine): the tree is walked at start and then
    every `refresh` seconds; each sample reads only the known processes' status files.
    """

    def __init__(self, root: int, select=None, interval: float = 0.02, refresh: float = 1.0):
        self.root = root
        self.select = select or (lambda cmd: True)
        self.interval = interval
        self.refresh = refresh
        self.idle = self.peak = self.hwm_idle = self.hwm_peak = 0
        self.sub_idle = self.sub_peak = self.sub_hwm_idle = self.sub_hwm_peak = 0
        self.hwm_reset = False
        self.cpu = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pids: list[int] = []
        self._sub: list[int] = []

    def _walk(self) -> None:
        self._pids = process_tree(self.root)
        self._sub = [pid for pid in self._pids if self.select(cmdline(pid))]

    def __enter__(self) -> MemoryWatch:
        self._walk()
        self.hwm_reset = reset_hwm(self._pids)
        self.idle = self.peak = self.hwm_idle = rss_bytes(self._pids)
        self.sub_idle = self.sub_peak = self.sub_hwm_idle = rss_bytes(self._sub)
        self.cpu = -cpu_seconds(self._pids)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        self.peak = max(self.peak, rss_bytes(self._pids))
        self.sub_peak = max(self.sub_peak, rss_bytes(self._sub))

    def _run(self) -> None:
        walked = time.monotonic()
        while not self._stop.wait(self.interval):
            if time.monotonic() - walked > self.refresh:
                self._walk()
                walked = time.monotonic()
            self._sample()

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._walk()
        self._sample()
        if self.hwm_reset:
            self.hwm_peak = hwm_bytes(self._pids)
            self.sub_hwm_peak = hwm_bytes(self._sub)
        else:
            self.hwm_peak, self.sub_hwm_peak = self.peak, self.sub_peak
        self.cpu += cpu_seconds(self._pids)

    @property
    def growth(self) -> int:
        return self.peak - self.idle

    @property
    def hwm_growth(self) -> int:
        return self.hwm_peak - self.hwm_idle

    @property
    def worst_growth(self) -> int:
        return max(self.growth, self.hwm_growth)

    @property
    def sub_worst_growth(self) -> int:
        return max(self.sub_peak - self.sub_idle, self.sub_hwm_peak - self.sub_hwm_idle)


# --- The Locker server, started as `make run` starts it ---------------------------------------


def _clean_env(data_dir: Path, port: int) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(_CONFIG_PREFIXES) and name not in _CONFIG_NAMES
    }
    env.update(
        LOCKER_DATA_DIR=str(data_dir),
        LOCKER_ENV_FILE="",  # never the checkout's locker.env
        PORT=str(port),
        PYTHONUNBUFFERED="1",
        # Nothing here serves the web UI's assets; skip compressing them.
        LOCKER_STATICFILES_BACKEND="django.contrib.staticfiles.storage.StaticFilesStorage",
    )
    return env


_PREPARE = """
import sys
from io import StringIO
from django.core.management import call_command
from accounts.models import User
call_command("migrate", interactive=False, verbosity=0)
call_command("createcachetable", verbosity=0)
User.objects.create_user("bench", "bench@example.org", None, quota_bytes=0)
out = StringIO()
call_command("createapitoken", "bench", name="bench", stdout=out)
sys.stdout.write("TOKEN " + out.getvalue().strip().splitlines()[-1] + "\\n")
"""


class LockerServer:
    """`python -m locker.run` (gunicorn gthread + Celery worker + beat) in a fresh data dir."""

    def __init__(self, data_dir: Path, python: str = sys.executable, extra_env=None):
        self.data_dir = data_dir
        self.python = python
        self.port = free_port()
        self.env = _clean_env(data_dir, self.port)
        self.env.update(extra_env or {})
        self.token = ""
        self.proc: subprocess.Popen | None = None
        self.log_path = data_dir.parent / "locker.log"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def prepare(self) -> None:
        """Migrate, and create the user `bench` (unlimited quota) with an API token."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.token = self.shell(_PREPARE, tag="TOKEN", doing="preparing the database")

    def shell(self, script: str, *, tag: str, doing: str) -> str:
        """Run `script` with `manage.py shell` in this server's environment; the rest of the
        line it printed after `TAG `."""
        result = subprocess.run(
            [self.python, "manage.py", "shell", "-c", script],
            cwd=REPO,
            env=self.env,
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise RuntimeError(f"{doing} failed:\n" + result.stderr[-3000:])
        return next(
            line.split(" ", 1)[1]
            for line in result.stdout.splitlines()
            if line.startswith(f"{tag} ")
        )

    def start(self) -> None:
        log = open(self.log_path, "wb")  # noqa: SIM115 - kept open for the child
        self.proc = subprocess.Popen(
            [self.python, "-m", "locker.run"],
            cwd=REPO,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        wait_for_port(self.port, 60, self.proc)
        # The port listens as soon as the master binds; wait until workers answer.
        deadline = time.monotonic() + 60
        while True:
            try:
                status, _ = request(self.base_url + "/healthz")
                if status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("/healthz never answered 200; see " + str(self.log_path))
            time.sleep(0.2)

    def web_pids(self) -> list[int]:
        return [pid for pid in process_tree(self.proc.pid) if "gunicorn" in cmdline(pid)]

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.kill(self.proc.pid, signal.SIGINT)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            for pid in process_tree(self.proc.pid)[::-1]:
                with _suppress():
                    os.kill(pid, signal.SIGKILL)
            self.proc.wait()


class _suppress:
    def __enter__(self):
        return self

    def __exit__(self, kind, value, tb):
        return kind is not None and issubclass(kind, OSError)


# --- nginx serving a directory ----------------------------------------------------------------

NGINX = "/usr/sbin/nginx"

_NGINX_CONF = """
daemon off;
master_process on;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    server {{
        listen 127.0.0.1:{port};
        root {root};
    }}
}}
"""


class Nginx:
    """Debian's nginx serving `root` as static files, with sendfile, on a free port."""

    def __init__(self, work_dir: Path, root: Path):
        self.dir = work_dir
        self.root = root
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        if not os.access(NGINX, os.X_OK):
            raise RuntimeError(f"{NGINX} is missing; install Debian's nginx (nginx-light).")
        self.dir.mkdir(parents=True, exist_ok=True)
        conf = self.dir / "nginx.conf"
        conf.write_text(_NGINX_CONF.format(dir=self.dir, port=self.port, root=self.root))
        self.proc = subprocess.Popen(
            [NGINX, "-c", str(conf), "-p", str(self.dir), "-e", str(self.dir / "error.log")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for_port(self.port, 10, self.proc)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGQUIT)  # graceful
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


# --- The client: one code path for Locker and nginx -------------------------------------------


def request(url: str, method: str = "GET", headers=None, timeout: float = 30):
    host, port, path = _split(url)
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def _split(url: str) -> tuple[str, int, str]:
    rest = url.split("://", 1)[1]
    hostport, _, path = rest.partition("/")
    host, _, port = hostport.partition(":")
    return host, int(port or 80), "/" + path


def make_random_file(path: Path, size: int) -> str:
    """Write `size` random bytes to path in 1 MiB chunks; return their SHA-256."""
    digest = hashlib.sha256()
    with open(path, "wb") as fh:
        left = size
        while left:
            chunk = os.urandom(min(CHUNK, left))
            digest.update(chunk)
            fh.write(chunk)
            left -= len(chunk)
    return digest.hexdigest()


@dataclass
class Transfer:
    nbytes: int
    seconds: float
    status: int
    body: bytes = b""
    sha256: str = ""

    @property
    def mb_per_s(self) -> float:
        return self.nbytes / self.seconds / 1e6


def upload_multipart(
    url: str, path: Path, *, name: str, token: str, sha256: str = "", timeout: float = 3600
) -> Transfer:
    """POST path as the `file` part of a multipart body, streamed from disk (sendfile)."""
    boundary = "----locker-bench-" + os.urandom(12).hex()
    head = b""
    if sha256:
        head += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="sha256"\r\n\r\n{sha256}\r\n'
        ).encode()
    head += (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="file"; filename="{name}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    size = path.stat().st_size
    host, port, target = _split(url)
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        start = time.perf_counter()
        conn.putrequest("POST", target)
        conn.putheader("Authorization", f"Bearer {token}")
        conn.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
        conn.putheader("Content-Length", str(len(head) + size + len(tail)))
        conn.endheaders()
        conn.sock.sendall(head)
        with open(path, "rb") as fh:
            conn.sock.sendfile(fh)
        conn.sock.sendall(tail)
        response = conn.getresponse()
        body = response.read()
        seconds = time.perf_counter() - start
        return Transfer(size, seconds, response.status, body)
    finally:
        conn.close()


def download(url: str, *, token: str = "", verify: bool = False, timeout: float = 3600):
    """GET url and throw the body away (optionally hashing it) in 1 MiB reads."""
    host, port, target = _split(url)
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    digest = hashlib.sha256() if verify else None
    total = 0
    try:
        start = time.perf_counter()
        conn.request("GET", target, headers=headers)
        response = conn.getresponse()
        if response.status != 200:
            return Transfer(0, time.perf_counter() - start, response.status, response.read())
        while True:
            n = response.readinto(buffer)
            if not n:
                break
            total += n
            if digest is not None:
                digest.update(view[:n])
        seconds = time.perf_counter() - start
        declared = response.getheader("Content-Length")
        if declared is not None and int(declared) != total:
            raise RuntimeError(f"Content-Length said {declared} bytes, the body had {total}.")
        return Transfer(total, seconds, 200, sha256=digest.hexdigest() if digest else "")
    finally:
        conn.close()


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def cpu_count() -> int:
    return len(os.sched_getaffinity(0))


def rmtree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def parse_json(body: bytes) -> dict:
    try:
        return json.loads(body)
    except ValueError:
        return {"detail": body[:300].decode(errors="replace")}
