"""Virus-scan hooks: `none`, `clamav` (clamd INSTREAM) and `command` (any program on stdin).

A scanner reads plaintext chunks (decrypted on the fly, never written to a temporary file) and
answers Clean, Infected(name), or raises ScannerUnavailable. Anything it could not scan fully
(over clamd's StreamMaxLength, a dropped connection, a timeout, an unexpected answer) is an
error, never a clean result: failing open is the classic antivirus bug.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings


class ScannerUnavailable(Exception):
    """The scanner could not give a verdict (down, timed out, stream too long, bad answer)."""


@dataclass(frozen=True)
class Verdict:
    infected: bool
    name: str = ""


CLEAN = Verdict(infected=False)


class NoScanner:
    name = "none"

    def scan(self, chunks: Iterable[bytes]) -> Verdict:
        return CLEAN


class ClamdScanner:
    """A small clamd client: `zINSTREAM`, length-prefixed chunks, a zero-length terminator."""

    name = "clamav"
    CHUNK = 64 * 1024

    def __init__(self, url: str, *, timeout: float):
        self.url = url
        self.timeout = timeout

    def _connect(self) -> socket.socket:
        parts = urlsplit(self.url)
        try:
            if parts.scheme == "unix":
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.settimeout(self.timeout)
                sock.connect(parts.path)
            elif parts.scheme == "tcp":
                sock = socket.create_connection(
                    (parts.hostname, parts.port or 3310), timeout=self.timeout
                )
            else:
                raise ScannerUnavailable(f"LOCKER_CLAMD_URL {self.url!r} is not unix:// or tcp://")
        except OSError as exc:
            raise ScannerUnavailable(f"clamd at {self.url} is unreachable: {exc}") from exc
        return sock

    def _command(self, command: bytes) -> bytes:
        with self._connect() as sock:
            try:
                sock.sendall(b"z" + command + b"\0")
                return _read_reply(sock)
            except OSError as exc:
                raise ScannerUnavailable(f"clamd at {self.url} failed: {exc}") from exc

    def ping(self) -> bool:
        try:
            return self._command(b"PING") == b"PONG"
        except ScannerUnavailable:
            return False

    def scan(self, chunks: Iterable[bytes]) -> Verdict:
        deadline = time.monotonic() + self.timeout
        with self._connect() as sock:
            try:
                sock.sendall(b"zINSTREAM\0")
                for chunk in chunks:
                    for pos in range(0, len(chunk), self.CHUNK):
                        part = chunk[pos : pos + self.CHUNK]
                        sock.sendall(struct.pack("!L", len(part)) + part)
                    if time.monotonic() > deadline:
                        raise ScannerUnavailable("clamd took too long to take the stream.")
                sock.sendall(struct.pack("!L", 0))
                reply = _read_reply(sock)
            except OSError as exc:
                # clamd closes the connection once a stream exceeds StreamMaxLength: that is
                # "not scanned", never "clean".
                raise ScannerUnavailable(f"clamd did not scan the whole stream: {exc}") from exc
        return _parse_clamd_reply(reply)


def _read_reply(sock: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\0"):
        part = sock.recv(4096)
        if not part:
            break
        data += part
        if len(data) > 65536:
            raise ScannerUnavailable("clamd's answer is too long.")
    return data.rstrip(b"\0").strip()


def _parse_clamd_reply(reply: bytes) -> Verdict:
    text = reply.decode("utf-8", "replace")
    # "stream: OK", "stream: Eicar-Test FOUND", "INSTREAM size limit exceeded. ERROR"
    _, _, result = text.partition(": ")
    if result == "OK":
        return CLEAN
    if result.endswith(" FOUND"):
        return Verdict(infected=True, name=result[: -len(" FOUND")].strip()[:200])
    raise ScannerUnavailable(f"clamd could not scan the file: {text[:200]}")


class CommandScanner:
    """An admin-supplied program: content on stdin; exit 0 clean, 1 infected (name on stdout)."""

    name = "command"

    def __init__(self, command: str, *, timeout: float):
        if not command:
            raise ScannerUnavailable("LOCKER_SCANNER=command needs LOCKER_SCAN_COMMAND.")
        self.command = command
        self.timeout = timeout

    def scan(self, chunks: Iterable[bytes]) -> Verdict:
        try:
            proc = subprocess.Popen(  # noqa: S602 - the administrator's own command line
                self.command,
                shell=True,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError as exc:
            raise ScannerUnavailable(f"The scan command could not start: {exc}") from exc
        out: list[bytes] = []
        reader = threading.Thread(target=lambda: out.append(proc.stdout.read(65536)), daemon=True)
        reader.start()
        complete = True
        try:
            for chunk in chunks:
                proc.stdin.write(chunk)
            proc.stdin.close()
        except BrokenPipeError:
            complete = False  # the program stopped reading: its verdict covers part only
        except BaseException:
            # Reading the content failed (storage down): no verdict, and no program left behind.
            _kill_group(proc)
            reader.join(timeout=5)
            raise
        try:
            code = proc.wait(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            raise ScannerUnavailable("The scan command timed out.") from None
        finally:
            reader.join(timeout=5)
        stdout = (out[0] if out else b"").decode("utf-8", "replace").strip()
        if code == 1:
            return Verdict(infected=True, name=(stdout.splitlines() or ["unknown"])[0][:200])
        if code == 0 and complete:
            return CLEAN
        raise ScannerUnavailable(f"The scan command answered with exit status {code}.")


def _kill_group(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def get_scanner():
    kind = settings.LOCKER_SCANNER
    timeout = float(settings.LOCKER_SCAN_TIMEOUT)
    if kind == "clamav":
        return ClamdScanner(settings.LOCKER_CLAMD_URL, timeout=timeout)
    if kind == "command":
        return CommandScanner(settings.LOCKER_SCAN_COMMAND, timeout=timeout)
    return NoScanner()
