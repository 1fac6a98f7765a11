"""The doctor's HTTP client: Locker's public URL as a browser or an API client reaches it.

Plain `http.client`, so that a request body can be streamed piece by piece (a chunk is never
held whole in memory, and the buffering probe can pause half-way through one), and so that an
answer the proxy sends before the body is complete (its 413) can still be read.
"""

from __future__ import annotations

import base64
import http.client
import json
import random
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

TUS_HEADERS = {"Tus-Resumable": "1.0.0"}
OFFSET_TYPE = "application/offset+octet-stream"
PIECE = 64 * 1024  # bytes sent per write, and the block of the test data


class Unreachable(Exception):
    """Nothing answered, or the connection broke before an answer: the sentence says which."""


@dataclass
class Response:
    status: int
    headers: dict[str, str] = field(default_factory=dict)  # names in lower case
    body: bytes = b""

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")

    def json(self) -> dict:
        try:
            value = json.loads(self.body)
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}

    @property
    def from_locker(self) -> bool:
        """Locker answers every error in JSON with a `detail`; a proxy's own page is HTML."""
        return "application/json" in self.header("content-type") and "detail" in self.json()

    def detail(self) -> str:
        text = self.json().get("detail") or self.body[:200].decode(errors="replace")
        return " ".join(str(text).split())


def test_bytes(seed: str, offset: int, length: int) -> Iterator[bytes]:
    """The test file's bytes from `offset`: random-looking (nothing compresses or deduplicates
    them), yet the same bytes again when a chunk is sent again after a refusal."""
    end = offset + length
    while offset < end:
        block, within = divmod(offset, PIECE)
        data = random.Random(f"{seed}:{block}").randbytes(PIECE)  # noqa: S311 - not a secret
        piece = data[within : within + (end - offset)]
        offset += len(piece)
        yield piece


def describe(error: BaseException) -> str:
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"its TLS certificate was refused ({error.verify_message})"
    if isinstance(error, ConnectionRefusedError):
        return "the connection was refused"
    if isinstance(error, TimeoutError):
        return "it did not answer in time"
    if isinstance(error, ConnectionResetError | BrokenPipeError):
        return "the connection was cut"
    return str(error) or type(error).__name__


class Client:
    def __init__(self, base_url: str, *, token: str = "", timeout: float = 60):
        parts = urlsplit(base_url)
        self.base_url = base_url.rstrip("/")
        self.https = parts.scheme == "https"
        self.host = parts.hostname or "localhost"
        self.port = parts.port or (443 if self.https else 80)
        self.prefix = parts.path.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.last_local_address = ""  # this end of the last connection (the client IP check)

    def _connection(self) -> http.client.HTTPConnection:
        if self.https:
            return http.client.HTTPSConnection(
                self.host, self.port, timeout=self.timeout, context=ssl.create_default_context()
            )
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    def path(self, path: str) -> str:
        """`path` under the base URL; an absolute URL (a tus Location) is taken as it is."""
        if path.startswith(("http://", "https://")):
            parts = urlsplit(path)
            return parts.path + (f"?{parts.query}" if parts.query else "")
        return self.prefix + path

    def _headers(self, headers: dict | None, auth: bool) -> dict:
        merged = dict(headers or {})
        if auth and self.token:
            merged["Authorization"] = f"Bearer {self.token}"
        return merged

    def request(
        self,
        method: str,
        path: str,
        *,
        headers: dict | None = None,
        body: bytes = b"",
        auth: bool = True,
    ) -> Response:
        conn = self._connection()
        try:
            conn.connect()
            self.last_local_address = conn.sock.getsockname()[0]
            conn.request(method, self.path(path), body=body, headers=self._headers(headers, auth))
            return _read(conn)
        except (OSError, http.client.HTTPException) as error:
            raise Unreachable(describe(error)) from error
        finally:
            conn.close()

    def stream(
        self,
        method: str,
        path: str,
        *,
        headers: dict,
        pieces: Iterator[bytes],
        length: int,
        midway: Callable[[], None] | None = None,
        hold_at: int = 0,
    ) -> Response | None:
        """Send `length` bytes from `pieces` as the body; None when the connection was cut
        before an answer came. `midway` runs once `hold_at` bytes are sent (the rest waits)."""
        conn = self._connection()
        headers = {**self._headers(headers, True), "Content-Length": str(length)}
        try:
            conn.putrequest(method, self.path(path), skip_accept_encoding=True)
            for name, value in headers.items():
                conn.putheader(name, value)
            conn.endheaders()
            sent = 0
            for piece in pieces:
                if midway is not None and sent >= hold_at:
                    midway()
                    midway = None
                conn.send(piece)
                sent += len(piece)
            return _read(conn)
        except (OSError, http.client.HTTPException):
            # A proxy that refuses a body answers (413) and closes before it is all sent.
            try:
                return _read(conn)
            except (OSError, http.client.HTTPException, AttributeError):
                return None
        finally:
            conn.close()

    # --- tus -------------------------------------------------------------------------------

    def tus_create(self, *, name: str, length: int, first_chunk: bytes | None = None) -> Response:
        metadata = "filename " + base64.b64encode(name.encode()).decode()
        headers = {**TUS_HEADERS, "Upload-Length": str(length), "Upload-Metadata": metadata}
        if first_chunk is not None:
            headers["Content-Type"] = OFFSET_TYPE
        return self.request("POST", "/api/v1/tus/", headers=headers, body=first_chunk or b"")

    def tus_offset(self, location: str) -> int | None:
        answer = self.request("HEAD", location, headers=TUS_HEADERS)
        if answer.status != 200:
            return None
        return int(answer.header("upload-offset") or 0)

    def tus_patch(
        self,
        location: str,
        *,
        offset: int,
        pieces: Iterator[bytes],
        length: int,
        midway=None,
        hold_at: int = 0,
    ) -> Response | None:
        headers = {**TUS_HEADERS, "Content-Type": OFFSET_TYPE, "Upload-Offset": str(offset)}
        return self.stream(
            "PATCH",
            location,
            headers=headers,
            pieces=pieces,
            length=length,
            midway=midway,
            hold_at=hold_at,
        )

    def is_writing(self, location: str, *, offset: int, seconds: float) -> bool | None:
        """Whether Locker is busy receiving a PATCH of this upload (one the caller has left
        half-sent): another PATCH then gets 423. It is sent at a wrong offset with no body, so
        that Locker, when it is idle, refuses it (409) without changing anything. None when
        the answer says neither."""
        deadline = time.monotonic() + seconds
        headers = {**TUS_HEADERS, "Content-Type": OFFSET_TYPE, "Upload-Offset": str(offset + 1)}
        while True:
            answer = self.request("PATCH", location, headers=headers)
            if answer.status == 423:
                return True
            if answer.status != 409:
                return None
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.1)


def _read(conn: http.client.HTTPConnection) -> Response:
    response = conn.getresponse()
    body = response.read()
    headers = {name.lower(): value for name, value in response.getheaders()}
    return Response(response.status, headers, body)
