"""`make run`: start the web server, a Celery worker and Celery beat; Ctrl-C stops them all.

Every child gets the same environment, so they share the settings and the data dir.
"""

import contextlib
import os
import signal
import subprocess
import sys
import time

from locker.env import env_int, env_str


def _commands(port: int, bind: str) -> dict[str, list[str]]:
    python = sys.executable
    bin_dir = os.path.dirname(python)
    web_workers = env_int("LOCKER_WEB_WORKERS", 2)
    web_threads = env_int("LOCKER_WEB_THREADS", 8)
    return {
        "web": [
            os.path.join(bin_dir, "gunicorn"),
            "locker.wsgi:application",
            f"--bind={bind}:{port}",
            f"--workers={web_workers}",
            "--worker-class=gthread",
            f"--threads={web_threads}",
            "--timeout=120",
            "--graceful-timeout=10",
            "--access-logfile=-",
            # gunicorn's control socket defaults to one path in $HOME shared by every instance.
            "--no-control-socket",
            "--forwarded-allow-ips=" + env_str("LOCKER_FORWARDED_ALLOW_IPS", "127.0.0.1"),
        ],
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
    return {**MALLOC_TUNING, **os.environ}


def main() -> int:
    port = env_int("PORT", 8000)
    bind = env_str("LOCKER_BIND", "127.0.0.1")
    children: dict[str, subprocess.Popen] = {}
    stopping = False

    def stop(*_args):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    for name, cmd in _commands(port, bind).items():
        # Own process group per child, so the terminal's Ctrl-C reaches us once and we decide.
        children[name] = subprocess.Popen(cmd, start_new_session=True, env=child_environment())
    print(f"Locker is running at http://{bind}:{port}/  (Ctrl-C stops it)", flush=True)
    exit_code = 0
    while not stopping:
        for name, proc in children.items():
            if proc.poll() is not None:
                print(f"{name} exited with status {proc.returncode}; stopping.", flush=True)
                exit_code = proc.returncode or 1
                stopping = True
                break
        time.sleep(0.3)
    # SIGTERM to each leader only: gunicorn and celery stop their own workers. Signalling the
    # whole group made celery's prefork pool children die under the master, which then hung.
    for proc in children.values():
        if proc.poll() is None:
            proc.terminate()
    deadline = time.monotonic() + 15
    for proc in children.values():
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
    for proc in children.values():
        # Whatever is left of a group (a stuck leader or an orphaned worker) is killed.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
