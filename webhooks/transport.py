"""Sending one webhook request, safely (docs/webhooks.md, "Security").

A webhook URL is chosen by a user, and the worker that posts to it sits inside the instance's
network: without care it is a way to make the server reach its own private services (SSRF). So:

- the host name is resolved once, every address it resolves to is checked (private, loopback,
  link-local, multicast, reserved and other non-global addresses are refused unless
  LOCKER_WEBHOOK_ALLOW_PRIVATE is on), and the connection goes to the checked address itself,
  with the name only in the Host header and TLS's SNI and certificate check: a name that
  resolves to a public address when checked and to 127.0.0.1 when connecting (DNS rebinding)
  never reaches 127.0.0.1;
- redirects are not followed (a 3xx is an answer like any other, and not a success);
- connect and read timeouts, a total deadline for the whole attempt (connect + read timeouts:
  a receiver trickling its headers or chunk sizes a byte at a time has its connection cut
  then), and at most RESPONSE_MAX_BYTES of the answer are read.
"""

import contextlib
import http.client
import ipaddress
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.utils.translation import gettext as _

RESPONSE_MAX_BYTES = 64 * 1024
EXCERPT_CHARS = 500

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeURL(Exception):
    """The URL may not be posted to; the message is a sentence for its owner."""


@dataclass(frozen=True)
class Answer:
    status: int | None
    excerpt: str
    error: str
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def address_allowed(address: Address) -> bool:
    """A global unicast address, or anything when LOCKER_WEBHOOK_ALLOW_PRIVATE is on."""
    if settings.LOCKER_WEBHOOK_ALLOW_PRIVATE:
        return True
    if isinstance(address, ipaddress.IPv6Address):
        # An IPv4 address inside an IPv6 one must be allowed itself: mapped (::ffff:a.b.c.d)
        # and 6to4 (2002:AABB:CCDD::/48, which Python counts as global whatever it carries:
        # 2002:7f00:1:: is 127.0.0.1 through a 6to4 relay).
        if address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        elif address.sixtofour is not None and not address_allowed(address.sixtofour):
            return False
    return address.is_global and not (
        address.is_multicast
        or address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_reserved
        or address.is_unspecified
    )


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str


def url_parse(url: str) -> Target:
    """The parts of a webhook URL, or UnsafeURL: https (http only with ALLOW_PRIVATE), a host,
    no user name or password in it, no fragment."""
    if len(url) > settings.LOCKER_WEBHOOK_URL_MAX_LENGTH:
        raise UnsafeURL(
            _("The URL is too long (at most %(max)d characters).")
            % {"max": settings.LOCKER_WEBHOOK_URL_MAX_LENGTH}
        )
    if not url.isascii() or any(c.isspace() or ord(c) < 32 for c in url):
        raise UnsafeURL(_("The URL must be plain ASCII without spaces (encode it)."))
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UnsafeURL(_("This is not a valid URL.")) from None
    allowed = ("https", "http") if settings.LOCKER_WEBHOOK_ALLOW_PRIVATE else ("https",)
    if parts.scheme not in allowed:
        raise UnsafeURL(_("The URL must start with https://."))
    if not parts.hostname:
        raise UnsafeURL(_("The URL must name a host."))
    if parts.username is not None or parts.password is not None:
        raise UnsafeURL(_("The URL must not contain a user name or password."))
    if parts.fragment:
        raise UnsafeURL(_("The URL must not contain a fragment (#…)."))
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    default = 443 if parts.scheme == "https" else 80
    return Target(parts.scheme, parts.hostname, port or default, path)


def resolve(host: str, port: int) -> Address:
    """The address to connect to: the host's addresses, each checked; UnsafeURL when any is
    refused (a name with one private address among public ones is refused: which one a client
    would reach is the resolver's choice, not ours) or when it does not resolve."""
    try:
        literal = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [literal]
    else:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            raise UnsafeURL(
                _("The host name %(host)s cannot be resolved.") % {"host": host}
            ) from None
        addresses = []
        for info in infos:
            address = ipaddress.ip_address(info[4][0].split("%", 1)[0])
            if address not in addresses:
                addresses.append(address)
        if not addresses:
            raise UnsafeURL(_("The host name %(host)s cannot be resolved.") % {"host": host})
    for address in addresses:
        if not address_allowed(address):
            raise UnsafeURL(
                _(
                    "%(host)s is a private, loopback, link-local, multicast or reserved "
                    "address: webhooks go to public addresses only."
                )
                % {"host": host}
            )
    return addresses[0]


def url_check(url: str) -> None:
    """What creation checks: the URL's form and where its host resolves now (UnsafeURL)."""
    target = url_parse(url)
    resolve(target.host, target.port)


class _Deadline:
    """The attempt's total deadline. Socket timeouts bound each read, not their sum: a receiver
    sending its status line, headers or chunk sizes a byte every few seconds would hold the
    worker for as long as it likes. At the deadline the connection is shut down (from a timer
    thread, on a duplicate of its descriptor: that also ends a blocked TLS read), so whatever
    the worker is reading ends at once."""

    def __init__(self, seconds: float):
        self.expired = False
        self._socket: socket.socket | None = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            if self.expired:
                raise TimeoutError
            self._socket = sock.dup()

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            if self._socket is not None:
                with contextlib.suppress(OSError):
                    self._socket.shutdown(socket.SHUT_RDWR)

    def stop(self) -> None:
        self._timer.cancel()
        with self._lock:
            if self._socket is not None:
                self._socket.close()
                self._socket = None


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to the checked address; the Host header still names the host."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        address: Address,
        connect_timeout: float,
        deadline: _Deadline,
        **kw,
    ):
        super().__init__(host, port, timeout=connect_timeout, **kw)
        self._address = address
        self._deadline = deadline

    def _socket(self) -> socket.socket:
        sock = socket.create_connection((str(self._address), self.port), self.timeout)
        try:
            self._deadline.watch(sock)
        except TimeoutError:
            sock.close()
            raise
        sock.settimeout(settings.LOCKER_WEBHOOK_READ_TIMEOUT)
        return sock

    def connect(self):
        self.sock = self._socket()


class _PinnedHTTPSConnection(_PinnedHTTPConnection):
    default_port = 443

    def connect(self):
        context = ssl.create_default_context()
        # SNI and the certificate check are for the name, the TCP connection for the address.
        self.sock = context.wrap_socket(self._socket(), server_hostname=self.host)


def _read_capped(response, started: float) -> bytes:
    """At most RESPONSE_MAX_BYTES of the answer, within the read timeout in all (a receiver
    trickling a byte at a time does not hold the worker for longer)."""
    deadline = (
        started + settings.LOCKER_WEBHOOK_CONNECT_TIMEOUT + settings.LOCKER_WEBHOOK_READ_TIMEOUT
    )
    data = b""
    while len(data) < RESPONSE_MAX_BYTES and time.monotonic() < deadline:
        chunk = response.read1(min(8192, RESPONSE_MAX_BYTES - len(data)))
        if not chunk:
            break
        data += chunk
    return data


def post(url: str, body: bytes, headers: dict[str, str]) -> Answer:
    """POST `body` to `url` once; never raises for what the network or the receiver does."""
    started = time.monotonic()

    def answer(status=None, excerpt="", error="") -> Answer:
        elapsed = int((time.monotonic() - started) * 1000)
        # Text columns (PostgreSQL's) hold no NUL: a receiver's answer must not break the log.
        excerpt, error = excerpt.replace("\x00", "\ufffd"), error.replace("\x00", "\ufffd")
        return Answer(status, excerpt[:EXCERPT_CHARS], error[:300], elapsed)

    try:
        target = url_parse(url)
        address = resolve(target.host, target.port)
    except UnsafeURL as exc:
        return answer(error=str(exc))
    cls = _PinnedHTTPSConnection if target.scheme == "https" else _PinnedHTTPConnection
    deadline = _Deadline(
        settings.LOCKER_WEBHOOK_CONNECT_TIMEOUT + settings.LOCKER_WEBHOOK_READ_TIMEOUT
    )
    connection = cls(
        target.host,
        target.port,
        address=address,
        connect_timeout=settings.LOCKER_WEBHOOK_CONNECT_TIMEOUT,
        deadline=deadline,
    )
    too_late = _("The receiver did not answer in time.")
    try:
        connection.request(
            "POST",
            target.path,
            body=body,
            headers={
                "Content-Type": "application/json",
                "User-Agent": "Locker-Webhooks/1",
                **headers,
            },
        )
        response = connection.getresponse()
        if deadline.expired:  # headers cut short by the deadline look like an empty end
            return answer(error=too_late)
        return answer(response.status, _read_capped(response, started).decode("utf-8", "replace"))
    except TimeoutError:
        return answer(error=too_late)
    except ssl.SSLError as exc:
        if deadline.expired:
            return answer(error=too_late)
        return answer(error=_("TLS failed: %(reason)s") % {"reason": exc.reason or exc})
    except (OSError, http.client.HTTPException) as exc:
        if deadline.expired:
            return answer(error=too_late)
        return answer(
            error=_("The request failed: %(reason)s") % {"reason": exc or type(exc).__name__}
        )
    finally:
        deadline.stop()
        connection.close()
