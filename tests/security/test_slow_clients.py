"""Slow clients cannot take the web server down, and are cut; real uploads at any real pace work.

Before (attack report H1): gunicorn's gthread worker gave a connection one of its 8 threads at its
first byte and then waited on it forever, so 40 connections dripping a header byte (slowloris) or
a body byte every few seconds held every thread: /healthz timed out for as long as they kept on.

Against the web server exactly as `make run` starts it (two workers of eight threads), with short
deadlines so that the test does not wait long: headers within 4 s, bodies pausing at most 4 s and
averaging at least 1 KiB/s over each 4 s of waiting.
"""

import contextlib
import select
import socket
import threading
import time
import urllib.error
import urllib.request

import pytest

from tests.fixtures.multiworker import make_run_web_server, prepare, server_env

TIMEOUT = 4  # LOCKER_REQUEST_HEADER_TIMEOUT and LOCKER_REQUEST_READ_TIMEOUT, seconds
SETUP = """
from accounts.models import User
from accounts.services import api_token_create
user = User.objects.create_user(username="alice", email="alice@example.com", password="x-1-y-2")
print("TOKEN=" + api_token_create(user=user, name="tests")[1])
"""
BOUNDARY = "zzBOUNDARYzz"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("slow")
    env = server_env(
        root / "data",
        "",
        LOCKER_REQUEST_HEADER_TIMEOUT=f"{TIMEOUT}s",
        LOCKER_REQUEST_READ_TIMEOUT=f"{TIMEOUT}s",
        LOCKER_REQUEST_MIN_RATE="1K",
        LOCKER_API_RATE_USER="100000/min",
    )
    token = prepare(env, SETUP).split("TOKEN=", 1)[1].strip()
    with make_run_web_server(env, root / "server.log") as web:
        yield web, token


def _port(server) -> int:
    return int(server.base.rsplit(":", 1)[1])


def _healthz(base: str) -> int:
    try:
        with urllib.request.urlopen(f"{base}/healthz", timeout=5) as response:  # noqa: S310
            return response.status
    except (urllib.error.URLError, OSError):
        return 0


def _upload_head(
    token: str, name: str, size: int, *, expect: bool = False
) -> tuple[bytes, bytes, bytes]:
    """(request head, the part's header, the closing boundary) for a `size`-byte file."""
    part = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()
    head = (
        "POST /api/v1/files/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {token}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
        f"Content-Length: {len(part) + size + len(tail)}\r\n"
        + ("Expect: 100-continue\r\n" if expect else "")
        + "Connection: close\r\n\r\n"
    ).encode()
    return head, part, tail


def _read_answer(sock: socket.socket, timeout: float = 60) -> bytes:
    sock.settimeout(timeout)
    answer = b""
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                break
            answer += data
    except OSError:
        pass
    return answer


def _status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.") else 0


def _upload(server, token: str, name: str, size: int, *, piece: int, pause: float) -> int:
    """POST a `size`-byte file `piece` bytes at a time, `pause` seconds apart; the status."""
    head, part, tail = _upload_head(token, name, size)
    with socket.create_connection(("127.0.0.1", _port(server)), timeout=60) as sock:
        sock.sendall(head + part)
        sent = 0
        while sent < size:
            count = min(piece, size - sent)
            sock.sendall(b"u" * count)
            sent += count
            if pause:
                time.sleep(pause)
        sock.sendall(tail)
        return _status(_read_answer(sock))


class Drippers:
    """Connections that send `prefix`, then one byte every `interval` seconds, until the server
    closes them; `closed` counts those the server cut."""

    def __init__(self, port: int, prefixes: list[bytes], interval: float):
        self.socks = [socket.create_connection(("127.0.0.1", port)) for _ in prefixes]
        for sock, prefix in zip(self.socks, prefixes, strict=True):
            sock.sendall(prefix)
        self.open = set(self.socks)
        self.answers: dict[socket.socket, bytes] = {sock: b"" for sock in self.socks}
        self.interval = interval
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        next_drip = time.monotonic()
        while not self.stop.is_set() and self.open:
            readable, _, _ = select.select(list(self.open), [], [], 0.2)
            for sock in readable:
                try:
                    data = sock.recv(4096)
                except OSError:
                    data = b""
                self.answers[sock] += data
                if not data:
                    self.open.discard(sock)
            if time.monotonic() >= next_drip:
                next_drip += self.interval
                for sock in list(self.open):
                    with contextlib.suppress(OSError):  # cut: the read above sees the end
                        sock.sendall(b"X")

    @property
    def closed(self) -> int:
        return len(self.socks) - len(self.open)

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        for sock in self.socks:
            sock.close()


def _wait_for(predicate, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return predicate()


def test_slow_headers_and_slow_bodies_neither_starve_the_server_nor_stay(server):
    web, token = server
    slow_headers = [b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "] * 40
    body_head = (
        "POST /accounts/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Cookie: csrftoken=" + "c" * 32 + "\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000\r\n\r\na"
    ).encode()
    slow_bodies = [body_head] * 40
    drippers = Drippers(_port(web), slow_headers + slow_bodies, interval=1)
    try:
        time.sleep(1)  # every connection has sent its first bytes and holds what it can
        for round_ in range(3):
            assert _healthz(web.base) == 200, f"/healthz did not answer (round {round_})"
            status = _upload(web, token, f"during-{round_}.bin", 300_000, piece=300_000, pause=0)
            assert status == 201
        # A byte a second is no request: every one of them is cut (with a 408) in time.
        assert _wait_for(lambda: drippers.closed == len(drippers.socks), 30), (
            f"{len(drippers.socks) - drippers.closed} slow connections are still open"
        )
        timed_out = [answer for answer in drippers.answers.values() if b" 408 " in answer]
        assert len(timed_out) == len(drippers.socks)
    finally:
        drippers.close()
    assert _healthz(web.base) == 200


def test_a_stalled_upload_is_cut_and_keeps_nothing(server):
    """Past the first few MB a body is read by a thread: the deadline holds there too."""
    web, token = server
    head, part, _tail = _upload_head(token, "stalled.bin", 20_000_000)
    with socket.create_connection(("127.0.0.1", _port(web)), timeout=60) as sock:
        sock.sendall(head + part + b"s" * 5_000_000)
        answer = _read_answer(sock)  # and then nothing more is sent
    assert 400 <= _status(answer) < 500, answer[:200]
    request = urllib.request.Request(
        f"{web.base}/api/v1/uploads/", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        assert b'"results":[]' in response.read().replace(b" ", b"")


def test_an_upload_slower_than_the_deadlines_but_steady_completes(server):
    """256 KiB every half second for about twice the read timeout: never paused long, well
    above the minimum rate, so it is served, whether the loop or a thread reads it."""
    web, token = server
    status = _upload(web, token, "steady.bin", 4 * 1024 * 1024, piece=256 * 1024, pause=0.5)
    assert status == 201


def test_expect_100_continue_gets_one_interim_answer(server):
    web, token = server
    head, part, tail = _upload_head(token, "expect.bin", 3_000_000, expect=True)
    with socket.create_connection(("127.0.0.1", _port(web)), timeout=30) as sock:
        sock.sendall(head)
        interim = sock.recv(4096)
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(part + b"e" * 3_000_000 + tail)
        answer = _read_answer(sock)
    assert answer.count(b"100 Continue") == 0
    assert _status(answer) == 201, answer[:300]


def test_pipelined_and_kept_alive_requests_are_all_answered(server):
    web, _token = server
    body = b"username=a&password=b"
    requests = (
        b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        b"POST /accounts/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: %d\r\n\r\n%s"
        b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    ) % (len(body), body)
    with socket.create_connection(("127.0.0.1", _port(web)), timeout=30) as sock:
        sock.sendall(requests)
        answer = _read_answer(sock)
    assert answer.count(b"HTTP/1.1 200 OK") == 2
    assert answer.count(b"HTTP/1.1 403 Forbidden") == 1  # no CSRF cookie: read and refused


def test_only_time_spent_waiting_for_the_client_counts():
    """A thread that stops reading while its storage is slow does not make its client slow:
    the bytes that piled up meanwhile arrive without waiting. A client that drips is cut."""
    from locker.slowclients import ReadClock, ReadLimits, RequestTooSlow

    limits = ReadLimits(header_timeout=20, read_timeout=30, min_rate=1024)
    clock = ReadClock(limits)
    clock.begin_body(now=0)
    clock.waited(0.5, 4 * 1024 * 1024)
    # ... five minutes of slow storage later, what the kernel buffered comes at once:
    for _ in range(100):
        clock.waited(0.0, 64 * 1024)
    assert clock.recv_timeout() == 30

    dripping = ReadClock(limits)
    dripping.begin_body(now=0)
    dripping.waited(29, 1)
    with pytest.raises(RequestTooSlow):
        dripping.waited(29, 1)  # 2 bytes in 58 s of waiting
