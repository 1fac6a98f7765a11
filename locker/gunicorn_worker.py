"""gunicorn's threaded worker, with slow clients kept away from its threads.

Stock gthread hands a connection to one of its few threads (8 per worker in `make run`) as soon
as its first byte arrives, and that thread then blocks on the socket with no time limit while
the headers and the body come in: 16 clients sending a byte every few seconds took the whole
server down (attack report H1).

This worker reads what a request sends before it needs a thread in its event loop, with the
sockets non-blocking: the headers, then the first LOCKER_REQUEST_BUFFER bytes of the body
(DATA_UPLOAD_MAX_MEMORY_SIZE by default, so every body a non-upload route takes). Only a
complete request (or one whose body is larger, i.e. an upload) gets a thread. The read rules of
locker.slowclients apply throughout: in the loop, and to the body reads a thread makes, which go
through `DeadlineSocket`. What the loop holds is bounded per worker by
LOCKER_REQUEST_BUFFER_MEMORY; past it, connections get a thread as before (and the rules still
cut the slow ones).

For TLS, HTTP/2, the uwsgi protocol and the PROXY protocol the stock way of reading applies
(never used by `make run`), still with the deadlines on every read.
"""

import contextlib
import errno
import json
import os
import selectors
import time
from functools import partial

from gunicorn import util
from gunicorn.http.parser import RequestParser
from gunicorn.workers import gthread

from locker.errors import code_for_status
from locker.slowclients import HeadersTooSlow, ReadClock, ReadLimits

RECV_SIZE = 256 * 1024
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
# What gunicorn refuses before the application sees the request (a request line, header or
# chunk it cannot parse, a header past its limits) is answered in JSON with a sentence, like
# every other error of Locker, instead of gunicorn's HTML page.
REFUSALS = {
    400: "This request is malformed and could not be read",
    403: "This request is forbidden",
    408: "The request arrived too slowly",
    414: "The URL is too long (at most 4,094 bytes)",
    417: "This Expect header cannot be met",
    431: "A request header is too large (at most 8,190 bytes a field and 100 fields)",
    500: "The server could not answer this request",
    501: "This transfer coding is not supported",
}


def json_refusal(status: int, reason: str, detail: str = "") -> bytes:
    sentence = REFUSALS.get(status, REFUSALS[400])
    if detail and status == 400:
        sentence += f" ({detail[:200]})"
    body = json.dumps({"code": code_for_status(status), "detail": sentence + "."}).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nCache-Control: no-store\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


def write_json_error(sock, status_int, reason, mesg) -> None:
    """Stands in for gunicorn.util.write_error (which writes an HTML page) in this worker."""
    util.write_nonblock(sock, json_refusal(int(status_int), reason, str(mesg)))


TIMEOUT_ANSWER = json_refusal(408, "Request Timeout")


class DeadlineSocket:
    """The socket as gunicorn's request reader sees it: every recv() waits at most what the
    connection's ReadClock allows, and counts what arrived (the rate rule)."""

    def __init__(self, sock, clock: ReadClock):
        self._sock = sock
        self._clock = clock

    def recv(self, size: int) -> bytes:
        prior = self._sock.gettimeout()
        wait = self._clock.recv_timeout()
        ours = prior is None or wait < prior
        self._sock.settimeout(wait if ours else prior)
        started = time.monotonic()
        try:
            data = self._sock.recv(size)
        except TimeoutError:
            if not ours:
                raise  # the caller's own deadline (gunicorn draining a body), not ours
            raise self._clock.too_slow() from None
        finally:
            self._sock.settimeout(prior)
        self._clock.waited(time.monotonic() - started, len(data))
        return data

    def __getattr__(self, name):
        return getattr(self._sock, name)


class Conn(gthread.TConn):
    """A connection with its ReadClock and what the event loop has read of its next request."""

    def __init__(self, cfg, sock, client, server, limits: ReadLimits):
        super().__init__(cfg, sock, client, server)
        self.clock = ReadClock(limits)
        self.buf = bytearray()
        self.scanned = 0  # how much of buf was searched for the end of the headers
        self.header_end: int | None = None  # index just past the blank line
        self.body_end: int | None = None  # index where the pre-read may stop
        self.chunk_pos: int | None = None  # chunked body: start of the next chunk's size line
        self.ready = False  # the request is in the parser's buffer: give it a thread
        self.continue_sent = False

    def init(self):
        fresh = not self.initialized
        super().init()
        if fresh and isinstance(self.parser, RequestParser):
            unreader = self.parser.unreader
            unreader.sock = DeadlineSocket(unreader.sock, self.clock)

    def reset_request(self) -> None:
        self.buf = bytearray()
        self.scanned = 0
        self.header_end = self.body_end = self.chunk_pos = None
        self.continue_sent = False
        self.clock.begin_request()


def _header_fields(block: bytes) -> tuple[bytes, dict[bytes, list[bytes]]]:
    """(the request line's HTTP version, {lower-case field name: [values]})."""
    lines = block.split(b"\r\n")
    version = lines[0].rsplit(b" ", 1)[-1] if lines else b""
    fields: dict[bytes, list[bytes]] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if sep:
            fields.setdefault(name.strip().lower(), []).append(value.strip())
    return version, fields


class ThreadWorker(gthread.ThreadWorker):
    """`--worker-class=locker.gunicorn_worker.ThreadWorker` (locker/run.py uses it)."""

    def __init__(self, *args, **kwargs):
        util.write_error = write_json_error  # the worker's refusals in JSON (above)
        super().__init__(*args, **kwargs)
        self.limits: ReadLimits | None = None
        self.collecting: set[Conn] = set()
        self.buffered = 0
        self.buffer_size = 0
        self.buffer_memory = 0
        cfg = self.cfg
        self.loop_reads = (
            not cfg.is_ssl
            and cfg.http2_cleartext == "off"
            and getattr(cfg, "protocol", "http") == "http"
            and cfg.proxy_protocol in ("off", False, None)
        )
        fields = cfg.limit_request_fields or 100
        field_size = cfg.limit_request_field_size or 8190
        self.max_header_bytes = (cfg.limit_request_line or 8190) + fields * (field_size + 2) + 4

    def run(self):
        # The application (and so Django's settings) is loaded by now.
        from django.conf import settings

        self.limits = ReadLimits.from_settings()
        self.buffer_size = settings.LOCKER_REQUEST_BUFFER or 2_621_440
        self.buffer_memory = settings.LOCKER_REQUEST_BUFFER_MEMORY
        # locker.run waits for this line from every worker before it prints the URL.
        self.log.info("Ready to serve requests (pid %s)", os.getpid())
        super().run()

    # --- Connections come in ---------------------------------------------------------------

    def accept(self, listener):
        try:
            client_sock, client_addr = listener.accept()
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        client_sock.setblocking(True)
        conn = Conn(self.cfg, client_sock, client_addr, listener.getsockname(), self.limits)
        self.enqueue_req(conn)

    def enqueue_req(self, conn):
        """Every way a request starts (a new connection, a kept-alive one that became readable,
        bytes of the next request already read) comes here: collect it in the loop first."""
        if not self.loop_reads or conn.ready:
            if not conn.ready:
                conn.clock.begin_request()
            conn.ready = False
            super().enqueue_req(conn)
            return
        conn.reset_request()
        if conn.parser is not None:
            conn.buf += conn.parser.unreader.take_buffered()  # pipelined bytes
            self.buffered += len(conn.buf)
        if self._advance(conn):
            return
        conn.sock.setblocking(False)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._readable, conn))
        self.collecting.add(conn)

    def _readable(self, conn: Conn, _sock) -> None:
        try:
            data = conn.sock.recv(RECV_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._drop(conn)
            return
        if not data:
            self._drop(conn)
            return
        conn.buf += data
        self.buffered += len(data)
        if conn.header_end is not None:
            try:
                conn.clock.received(len(data))
            except TimeoutError:
                self._drop(conn, answer=True)
                return
        self._advance(conn)

    def _advance(self, conn: Conn) -> bool:
        """Look at what `conn` has sent; True when it was given a thread."""
        buf = conn.buf
        if conn.header_end is None:
            start = max(0, conn.scanned - 3)  # each byte is looked at about once
            end = buf.find(b"\r\n\r\n", start)
            conn.scanned = len(buf)
            if end < 0:
                if (
                    len(buf) > self.max_header_bytes
                    or self.buffered > self.buffer_memory
                    or buf.find(b"\n\n", max(0, start - 1)) >= 0  # bare LFs: gunicorn refuses
                ):
                    return self._dispatch(conn)  # gunicorn's parser refuses or reads on
                return False
            conn.header_end = end + 4
            conn.clock.begin_body()
            if not self._plan_body(conn):
                return self._dispatch(conn)
            if len(buf) > conn.header_end:
                try:
                    conn.clock.received(len(buf) - conn.header_end)
                except TimeoutError:
                    self._drop(conn, answer=True)
                    return True
        if conn.chunk_pos is not None:
            self._scan_chunks(conn)
        if conn.body_end is not None and len(buf) >= conn.body_end:
            return self._dispatch(conn)
        if len(buf) - conn.header_end >= self.buffer_size or self.buffered > self.buffer_memory:
            return self._dispatch(conn)
        return False

    def _plan_body(self, conn: Conn) -> bool:
        """Decide how much of the body to read here; False when there is nothing to wait for
        (no body, or headers gunicorn will refuse)."""
        version, fields = _header_fields(bytes(conn.buf[: conn.header_end - 4]))
        if b"transfer-encoding" in fields:
            conn.chunk_pos = conn.header_end
        else:
            lengths = fields.get(b"content-length", [])
            if len(lengths) != 1 or not lengths[0].isdigit():
                return False
            length = int(lengths[0])
            if length == 0:
                return False
            conn.body_end = conn.header_end + min(length, self.buffer_size)
        expect = fields.get(b"expect", [])
        if expect and version == b"HTTP/1.1" and expect[0].lower() == b"100-continue":
            # The client waits for this before it sends the body. gunicorn would send it when
            # the application starts, too late for a body read here (see handle_request).
            try:
                sent = conn.sock.send(CONTINUE)
            except OSError:
                return False
            if sent != len(CONTINUE):
                return False
            conn.continue_sent = True
        return True

    def _scan_chunks(self, conn: Conn) -> None:
        """Follow a chunked body's size lines to find where it ends (body_end)."""
        buf = conn.buf
        pos = conn.chunk_pos
        while True:
            line_end = buf.find(b"\r\n", pos)
            if line_end < 0:
                if len(buf) - pos > 1024:
                    conn.body_end = pos  # not a size line: let gunicorn's parser say so
                break
            size_text = bytes(buf[pos:line_end]).split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                conn.body_end = pos
                break
            if size == 0:
                if buf[line_end + 2 : line_end + 4] == b"\r\n":
                    conn.body_end = line_end + 4
                else:
                    trailers_end = buf.find(b"\r\n\r\n", line_end)
                    if trailers_end >= 0:
                        conn.body_end = trailers_end + 4
                break
            if line_end + 2 + size + 2 > len(buf):
                break
            pos = line_end + 2 + size + 2
        conn.chunk_pos = pos

    def _dispatch(self, conn: Conn) -> bool:
        """Hand what was read to gunicorn's parser and the request to a thread."""
        self._stop_collecting(conn)
        self.buffered -= len(conn.buf)
        try:
            conn.init()
        except Exception:
            self._close(conn)
            return True
        conn.parser.unreader.unread(bytes(conn.buf))
        conn.buf = bytearray()
        conn.data_ready = True
        conn.ready = True
        self.enqueue_req(conn)
        return True

    def _stop_collecting(self, conn: Conn) -> None:
        if conn in self.collecting:
            self.collecting.discard(conn)
            with contextlib.suppress(KeyError, ValueError, OSError):
                self.poller.unregister(conn.sock)

    def _drop(self, conn: Conn, *, answer: bool = False) -> None:
        """Close a connection whose request will not be served (gone, or too slow)."""
        self._stop_collecting(conn)
        self.buffered -= len(conn.buf)
        conn.buf = bytearray()
        if answer:
            with contextlib.suppress(OSError):
                conn.sock.send(TIMEOUT_ANSWER)
        self._close(conn)

    def _close(self, conn: Conn) -> None:
        self.nr_conns -= 1
        conn.close()

    def murder_pending(self):
        """Also close the connections whose request is overdue (or all, when stopping)."""
        super().murder_pending()
        now = time.monotonic()
        for conn in list(self.collecting):
            if not self.alive or conn.clock.expired(now):
                self._drop(conn, answer=self.alive and bool(conn.buf))

    # --- A thread serves the request ---------------------------------------------------------

    def handle_request(self, req, conn):
        conn.clock.begin_body()
        if conn.continue_sent:
            req._expected_100_continue = False  # sent already, by _plan_body
        return super().handle_request(req, conn)

    def handle_error(self, req, client, addr, exc):
        if isinstance(exc, HeadersTooSlow):
            self.log.info("Request headers too slow from %s: %s", addr and addr[0], exc)
            with contextlib.suppress(OSError):
                client.settimeout(1)
                util.write(client, TIMEOUT_ANSWER)
            return
        super().handle_error(req, client, addr, exc)
