"""Thumbnails made in a sandbox: which files get one, and rendering them in a limited child process
(files.processing stores them, files.responses serves them).

The renderer (files.thumbnailer) runs with a hard address-space limit, a CPU limit and a wall
clock timeout; it gets the decrypted content on stdin (never a plaintext file on disk) and the
thumbnails are stored encrypted like any content.
"""

from __future__ import annotations

import contextlib
import resource
import struct
import subprocess
import sys
import threading
from dataclasses import dataclass

from django.conf import settings

from storage.exceptions import CorruptContent
from storage.reader import iter_content

SIZES = (256, 1024)
CONTENT_TYPE = "image/webp"

_RASTER_TYPES = {
    "image/jpeg",
    "image/png",
    "image/gif",
    "image/webp",
    "image/tiff",
    "image/bmp",
    "image/x-ms-bmp",
    "image/avif",
}


def thumbnail_kind(content_type: str) -> str | None:
    """What renderer a (detected) content type gets, or None for no thumbnail."""
    if content_type in _RASTER_TYPES:
        return "image"
    if content_type == "application/pdf":
        return "pdf"
    if content_type.startswith("video/"):
        return "video"
    return None


class ThumbnailFailed(Exception):
    """The file could not be rendered (malformed, a bomb, too big, too slow)."""


@dataclass
class Rendered:
    size: int
    data: bytes


def _limits(memory: int, cpu_seconds: int):
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return apply


def render_thumbnails(chunks, *, kind: str) -> list[Rendered]:
    """Render every size from the plaintext chunks; raises ThumbnailFailed."""
    timeout = settings.LOCKER_THUMBNAIL_TIMEOUT
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "files.thumbnailer",
            kind,
            ",".join(str(size) for size in SIZES),
            str(settings.LOCKER_THUMBNAIL_MAX_PIXELS),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=_limits(settings.LOCKER_THUMBNAIL_MEMORY, timeout),  # noqa: PLW1509
        cwd=settings.BASE_DIR,  # `-m files.thumbnailer` wherever the worker was started from
        start_new_session=True,
    )

    read_failed: list[BaseException] = []

    def feed() -> None:
        try:
            for chunk in chunks:
                try:
                    proc.stdin.write(chunk)
                except (BrokenPipeError, ValueError, OSError):
                    return  # the child gave up; its exit status says why
        except BaseException as exc:  # noqa: BLE001 - reading the content failed: re-raised below
            # Storage or database trouble is not the file's fault: the renderer must not
            # judge a truncated input, and the caller retries.
            read_failed.append(exc)
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        finally:
            with contextlib.suppress(OSError):
                proc.stdin.close()

    timed_out = threading.Event()

    def stop() -> None:
        timed_out.set()
        with contextlib.suppress(ProcessLookupError):
            proc.kill()

    errors: list[bytes] = []
    feeder = threading.Thread(target=feed, daemon=True)
    drain = threading.Thread(target=lambda: errors.append(proc.stderr.read()), daemon=True)
    timer = threading.Timer(timeout, stop)
    feeder.start()
    drain.start()
    timer.start()
    try:
        stdout = proc.stdout.read()
        proc.wait()
    finally:
        timer.cancel()
        feeder.join(timeout=5)
        drain.join(timeout=5)
        proc.stdout.close()
        proc.stderr.close()
    stderr = errors[0] if errors else b""
    if read_failed:
        if isinstance(read_failed[0], CorruptContent):
            raise ThumbnailFailed("The stored content could not be read.") from read_failed[0]
        raise read_failed[0]
    if timed_out.is_set():
        raise ThumbnailFailed("Rendering took too long.")
    if proc.returncode == 3:
        return []
    if proc.returncode != 0:
        reason = stderr.decode("utf-8", "replace").strip().splitlines()
        if proc.returncode < 0:
            raise ThumbnailFailed("The renderer was stopped (memory or time limit).")
        raise ThumbnailFailed(reason[-1][:200] if reason else "The file could not be rendered.")
    results = []
    pos = 0
    for size in sorted(SIZES, reverse=True):
        if pos + 4 > len(stdout):
            raise ThumbnailFailed("The renderer's output is incomplete.")
        (length,) = struct.unpack("!L", stdout[pos : pos + 4])
        results.append(Rendered(size=size, data=stdout[pos + 4 : pos + 4 + length]))
        pos += 4 + length
    return results


def file_chunks_for_thumbnail(file):
    """The plaintext of `file`, or ThumbnailFailed when it is too big to render."""
    if file.size > settings.LOCKER_THUMBNAIL_MAX_INPUT:
        raise ThumbnailFailed("The file is too big for a thumbnail.")
    return iter_content(file.blob)
