"""`manage.py doctor`: a running deployment checked from outside, through LOCKER_BASE_URL.

Each check is a function that returns a Result (doctor/results.py): OK, WARN, FAIL or SKIP, one
line saying what it found and, when it is not OK, what to change. `run_checks` runs the ones
asked for in order, with an API token it creates for the occasion and revokes at the end.
"""

from __future__ import annotations

import ipaddress
import secrets
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote, urlsplit, urlunsplit

from django.conf import settings

from doctor.client import Client, Unreachable
from doctor.results import Result, fail, ok, skip, warn
from doctor.services import doctor_token, doctor_user, test_uploads_left_remove
from doctor.uploads import check_request_buffering, check_scanner, check_upload_limits

# An address from TEST-NET-3 (RFC 5737): nobody's, so Locker can only have it from the header.
SPOOFED_ADDRESS = "203.0.113.77"
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}


@dataclass
class Options:
    base_url: str
    username: str | None = None
    upload_size: int = 16 * 1024 * 1024
    mail_to: str = ""
    broker_timeout: float = 10.0
    scan_timeout: float = 60.0
    only: tuple[str, ...] = ()


@dataclass
class Context:
    options: Options
    client: Client
    user: object


def _is_local(host: str) -> bool:
    if host in LOCAL_HOSTS or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# --- HTTPS ------------------------------------------------------------------------------------


def check_https(context: Context) -> Result:
    check = "https"
    client = context.client
    if not client.https and not _is_local(client.host):
        return fail(
            check,
            f"LOCKER_BASE_URL={client.base_url} is plain HTTP: passwords, links and files "
            "cross the network in clear.",
            "Put Locker behind a proxy with a TLS certificate (nginx with certbot, Caddy) and "
            "set LOCKER_BASE_URL=https://… to match.",
        )
    try:
        answer = client.request("GET", "/healthz", auth=False)
    except Unreachable as error:
        return fail(
            check,
            f"Nothing answered at LOCKER_BASE_URL={client.base_url}: {error}.",
            "Set LOCKER_BASE_URL to the address users open, and check that the proxy and "
            "Locker run there.",
        )
    if not client.https:
        return ok(check, f"{client.base_url} answers; plain HTTP, fine on this machine only.")
    if answer.status >= 400:
        return warn(check, f"{client.base_url}/healthz answered {answer.status}: {answer.detail()}")
    if not answer.header("strict-transport-security"):
        return warn(
            check,
            f"{client.base_url} answers over HTTPS but without a Strict-Transport-Security "
            "header, so a browser can still be talked into plain HTTP.",
            "Have the proxy tell Locker the request was HTTPS: nginx `proxy_set_header "
            "X-Forwarded-Proto $scheme;` (Locker sends HSTS only then), and leave "
            "LOCKER_HSTS_SECONDS above 0.",
        )
    return ok(check, f"{client.base_url} answers over HTTPS with HSTS.")


# --- Client address ---------------------------------------------------------------------------


def check_client_ip(context: Context) -> Result:
    """Locker's idea of the client's address (GET /api/v1/doctor/client-address/, staff only),
    compared with this end of the connection; then once more with a made-up X-Forwarded-For."""
    check = "client-ip"
    client = context.client
    if not context.user.is_staff:
        return skip(check, f"Skipped: {context.user.username} is not staff (run it as staff).")
    path = "/api/v1/doctor/client-address/"
    proxies = settings.LOCKER_PROXY_COUNT
    try:
        plain = client.request("GET", path)
        mine = client.last_local_address
        spoofed = client.request("GET", path, headers={"X-Forwarded-For": SPOOFED_ADDRESS})
    except Unreachable as error:
        return fail(check, f"Could not ask Locker who is calling: {error}.")
    if plain.status != 200 or spoofed.status != 200:
        bad = plain if plain.status != 200 else spoofed
        return fail(check, f"{path} answered {bad.status}: {bad.detail()}")
    seen = plain.json().get("client_ip") or ""
    if spoofed.json().get("client_ip") == SPOOFED_ADDRESS:
        return fail(
            check,
            f"Locker believed an X-Forwarded-For header made up by the client ({SPOOFED_ADDRESS}):"
            " anyone can pose as any address and slip past the log-in and link-password limits.",
            f"Set LOCKER_PROXY_COUNT (now {proxies}) to the number of proxies in front of Locker"
            " (0 when none), and have the proxy overwrite the header: nginx `proxy_set_header"
            " X-Forwarded-For $remote_addr;` (`$proxy_add_x_forwarded_for` behind another proxy);"
            " never pass the client's header on as it came.",
        )
    if seen == mine:
        return ok(check, f"Locker sees this client as {seen}, its own address.")
    try:
        internal = not ipaddress.ip_address(seen).is_global
    except ValueError:
        internal = False
    if internal:
        return fail(
            check,
            f"Locker sees this client as {seen}, not as {mine}: most likely the proxy's address,"
            " so every user shares one address and one lock-out (and the audit log names the"
            " proxy).",
            f"Set LOCKER_PROXY_COUNT (now {proxies}) to the number of proxies in front of Locker, "
            "and have the proxy send the client's address: nginx `proxy_set_header "
            "X-Forwarded-For $remote_addr;`.",
        )
    return warn(
        check,
        f"Locker sees this client as {seen}, and this end of the connection is {mine}: fine "
        "when a NAT is in between, else check LOCKER_PROXY_COUNT and X-Forwarded-For.",
    )


# --- Broker -----------------------------------------------------------------------------------


def _masked(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def check_broker(context: Context) -> Result:
    """Queue a no-op task (doctor.echo) and wait for its mark in the shared cache."""
    from django.core.cache import cache

    from doctor.tasks import echo, echo_key

    check = "broker"
    timeout = context.options.broker_timeout
    broker = _masked(settings.CELERY_BROKER_URL)
    nonce = secrets.token_hex(8)
    try:
        echo.apply_async((nonce,), retry=False)
    except Exception as error:  # noqa: BLE001 - whatever kombu raises, the operator reads it
        return fail(
            check,
            f"Could not queue a task: the broker at CELERY_BROKER_URL={broker} is unreachable "
            f"({type(error).__name__}: {error}).",
            "Start the broker, or point CELERY_BROKER_URL at it (the same value in the web "
            "server, the worker and here).",
        )
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if cache.get(echo_key(nonce)):
            seconds = time.monotonic() - started
            return ok(check, f"A worker ran a test task in {seconds:.1f} s (broker {broker}).")
        time.sleep(0.2)
    return fail(
        check,
        f"A test task was queued on {broker}, but no worker ran it within {timeout:g} s.",
        "Start a worker (celery -A locker worker) with the same CELERY_BROKER_URL, "
        "LOCKER_CELERY_QUEUE and LOCKER_CACHE_URL as the web server; its log says why it does "
        "not take tasks.",
    )


# --- S3 ---------------------------------------------------------------------------------------


def _anonymous_get(url: str) -> int:
    """The status of a GET without credentials; 0 when nothing answered."""
    request = urllib.request.Request(url, method="GET")  # noqa: S310 - the operator's S3 URL
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0


def check_s3_private(context: Context) -> Result:
    """A probe object is written with Locker's credentials, then read and the bucket listed
    without any: both must be refused. The probe is deleted at once."""
    from django.core.files.base import ContentFile
    from django.core.files.storage import storages

    check = "s3"
    if settings.LOCKER_STORAGE != "s3":
        return skip(check, "Skipped: files are stored on local disk (LOCKER_STORAGE=local).")
    storage = storages["default"]
    bucket = settings.LOCKER_S3_BUCKET
    name = storage.save(f"doctor-probe-{secrets.token_hex(8)}", ContentFile(b"locker doctor"))
    try:
        object_url = storage.url(name).split("?", 1)[0]
        key = quote(storage._normalize_name(name))  # noqa: SLF001 - the key S3 stores it under
        listing_url = object_url[: object_url.rindex(key)]
        listed, read = _anonymous_get(listing_url), _anonymous_get(object_url)
    finally:
        storage.delete(name)
    advice = (
        f"Make the bucket {bucket!r} private: remove any bucket policy or ACL that grants "
        'access to everyone ("Principal": "*", public-read), and on AWS turn Block Public '
        "Access on. Locker needs no public access: downloads go through it."
    )
    if read == 200:
        return fail(
            check, f"Anyone can read objects of {bucket!r} (GET {object_url}: 200).", advice
        )
    if listed == 200:
        return fail(
            check, f"Anyone can list the bucket {bucket!r} (GET {listing_url}: 200).", advice
        )
    if 0 in (read, listed):
        return warn(check, f"Could not reach the S3 endpoint {listing_url} from here to try.")
    return ok(
        check, f"The bucket {bucket!r} refuses anonymous listing ({listed}) and reading ({read})."
    )


# --- Mail -------------------------------------------------------------------------------------


def check_mail(context: Context) -> Result:
    from django.core.mail import send_mail

    check = "mail"
    to = context.options.mail_to
    backend = settings.EMAIL_BACKEND
    if not to:
        return skip(check, "Skipped: give --mail-to ADDRESS to send a test message.")
    try:
        send_mail(
            "Locker: test message from manage.py doctor",
            f"This message was sent by manage.py doctor on {context.client.base_url}. "
            "Locker can send e-mail.",
            settings.DEFAULT_FROM_EMAIL,
            [to],
            fail_silently=False,
        )
    except Exception as error:  # noqa: BLE001 - SMTP, DNS, TLS: the operator reads which
        return fail(
            check,
            f"Sending to {to} failed through {backend} ({type(error).__name__}: {error}).",
            f"Check EMAIL_HOST ({settings.EMAIL_HOST}), EMAIL_PORT ({settings.EMAIL_PORT}), "
            "EMAIL_USE_TLS, EMAIL_HOST_USER and EMAIL_HOST_PASSWORD against your mail "
            "provider's settings.",
        )
    if backend.endswith("console.EmailBackend"):
        return warn(
            check,
            "The console backend printed the message instead of sending it.",
            "Set EMAIL_BACKEND=django.core.mail.backends.smtp.EmailBackend and EMAIL_HOST.",
        )
    return ok(check, f"A test message to {to} was handed to {backend}; check that it arrived.")


# --- Running them -----------------------------------------------------------------------------


CHECKS: dict[str, Callable[[Context], Result]] = {
    "https": check_https,
    "upload": lambda c: check_upload_limits(c.client, c.user, size=c.options.upload_size),
    "buffering": lambda c: check_request_buffering(c.client, c.user),
    "client-ip": check_client_ip,
    "broker": check_broker,
    "scanner": lambda c: check_scanner(c.client, c.user, timeout=c.options.scan_timeout),
    "s3": check_s3_private,
    "mail": check_mail,
}


def run_checks(options: Options, report: Callable[[Result], None] | None = None) -> list[Result]:
    """Run the checks (all, or those in options.only) in order; `report` sees each result as
    soon as it is known. Raises doctor.services.NoUser when there is no account to act as."""
    names = [name for name in CHECKS if not options.only or name in options.only]
    user = doctor_user(options.username)
    test_uploads_left_remove(user=user)  # a killed earlier run's
    results = []
    with doctor_token(user) as token:
        context = Context(options, Client(options.base_url, token=token), user)
        for name in names:
            try:
                result = CHECKS[name](context)
            except Exception as error:  # noqa: BLE001 - one broken check must not hide the rest
                result = fail(name, f"The check itself failed: {type(error).__name__}: {error}")
            results.append(result)
            if report is not None:
                report(result)
    return results
