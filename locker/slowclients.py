"""How long a request may take to arrive (docs/operations.md, "Slow clients").

A request's headers must be complete within LOCKER_REQUEST_HEADER_TIMEOUT of the moment its
connection is ready for it. Its body may pause at most LOCKER_REQUEST_READ_TIMEOUT between two
reads, and must average at least LOCKER_REQUEST_MIN_RATE bytes per second over every stretch of
LOCKER_REQUEST_READ_TIMEOUT (0 turns the rate off). A 10 GB upload at 10 MB/s is never cut; a
client that stalls, or drips a byte at a time, is.

`ReadClock` keeps those rules for one connection; the gunicorn worker (locker.gunicorn_worker)
applies them. A body cut while the application reads it raises RequestTooSlow there, which
Django sees as a broken connection (UnreadablePostError): the upload endpoints answer that the
upload was interrupted and keep nothing.
"""

import time
from dataclasses import dataclass

HEADERS = "headers"
BODY = "body"


class RequestTooSlow(TimeoutError):
    """The request's body arrived too slowly: it stalled, or came in below the minimum rate.

    A TimeoutError (so an OSError): Django turns it into UnreadablePostError like any broken
    connection, and code that handles a client gone away handles this one too."""


class HeadersTooSlow(Exception):  # noqa: N818 - named like gunicorn's own parse errors
    """The request's headers were not complete in time (gunicorn answers 408)."""


@dataclass(frozen=True)
class ReadLimits:
    header_timeout: float
    read_timeout: float
    min_rate: int  # bytes per second; 0: no minimum

    @classmethod
    def from_settings(cls) -> "ReadLimits":
        from django.conf import settings

        return cls(
            header_timeout=settings.LOCKER_REQUEST_HEADER_TIMEOUT,
            read_timeout=settings.LOCKER_REQUEST_READ_TIMEOUT,
            min_rate=settings.LOCKER_REQUEST_MIN_RATE,
        )


class ReadClock:
    """The deadlines of the request being read on one connection.

    The body rules count only time spent waiting for the client: a thread that stops reading
    for a while (its storage is slow) is no fault of the client's, and the bytes that piled up
    meanwhile arrive without waiting."""

    def __init__(self, limits: ReadLimits):
        self.limits = limits
        self.phase = HEADERS
        self.deadline = self.mark = self.window_waited = 0.0
        self.window_bytes = 0
        self.begin_request()

    def begin_request(self, now: float | None = None) -> None:
        """A new request may start: its headers are due within the header timeout."""
        now = time.monotonic() if now is None else now
        self.phase = HEADERS
        self.deadline = now + self.limits.header_timeout

    def begin_body(self, now: float | None = None) -> None:
        """The headers are complete: from now on the body rules apply."""
        if self.phase == BODY:
            return
        self.phase = BODY
        self.mark = time.monotonic() if now is None else now
        self.window_waited = 0.0
        self.window_bytes = 0

    def waited(self, seconds: float, count: int) -> None:
        """`count` body bytes arrived after waiting `seconds` for them; raises RequestTooSlow
        when a window of LOCKER_REQUEST_READ_TIMEOUT seconds of waiting brought too few."""
        if self.phase != BODY:
            return
        self.window_waited += max(0.0, seconds)
        self.window_bytes += count
        if self.window_waited >= self.limits.read_timeout:
            if self.limits.min_rate and self.window_bytes < self.limits.min_rate * (
                self.window_waited
            ):
                raise self.too_slow()
            self.window_waited = 0.0
            self.window_bytes = 0

    def received(self, count: int, now: float | None = None) -> None:
        """For a reader that waits all the time (the worker's event loop): `count` bytes
        arrived now, after waiting since the previous ones."""
        now = time.monotonic() if now is None else now
        if self.phase == BODY:
            seconds, self.mark = now - self.mark, now
            self.waited(seconds, count)

    def recv_timeout(self, now: float | None = None) -> float:
        """Seconds the next read may wait; raises when none are left."""
        if self.phase == BODY:
            return self.limits.read_timeout
        now = time.monotonic() if now is None else now
        left = self.deadline - now
        if left <= 0:
            raise self.too_slow()
        return left

    def expired(self, now: float | None = None) -> bool:
        """For the event loop: whether the request is overdue at `now`."""
        now = time.monotonic() if now is None else now
        if self.phase == HEADERS:
            return now >= self.deadline
        gap = now - self.mark
        if gap >= self.limits.read_timeout:
            return True
        waited = self.window_waited + gap
        return bool(
            self.limits.min_rate
            and waited >= self.limits.read_timeout
            and self.window_bytes < self.limits.min_rate * waited
        )

    def too_slow(self) -> Exception:
        if self.phase == HEADERS:
            return HeadersTooSlow(
                f"request headers not complete within {self.limits.header_timeout:g} s"
            )
        return RequestTooSlow(
            f"request body paused for {self.limits.read_timeout:g} s or arrived slower than "
            f"{self.limits.min_rate} bytes/s"
        )
