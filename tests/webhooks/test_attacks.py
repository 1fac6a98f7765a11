"""Webhooks attacked as a registered, non-staff user would, against real receivers (HTTP servers
on 127.0.0.1 started here) and real requests: the forms an internal address can take, a
receiver that trickles its answer, proxies from the environment, test-event spam, the secret.
The worker's side (a worker SIGKILLed mid-delivery) is in tests/workers/test_webhook_worker.py.
"""

import socket
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.test import Client
from django.utils import timezone

from locker.celery import task_queue
from tests.webhooks.receiver import Receiver
from tests.workers.conftest import wait_for
from webhooks import services
from webhooks.models import Delivery, Webhook

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice_client(alice):
    client = Client()
    client.force_login(alice)
    return client


@pytest.fixture
def staff_client(staff):
    client = Client()
    client.force_login(staff)
    return client


def _attempt(delivery: Delivery) -> str | None:
    Delivery.objects.filter(pk=delivery.pk, state="pending").update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )
    return services.delivery_attempt(delivery_id=delivery.pk)


# --- SSRF: every spelling of an internal address is refused at creation -----------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://[::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://[0:0:0:0:0:ffff:7f00:1]/hook",
        "https://[fd00::1]/hook",
        "https://[fe80::1%25lo]/hook",
        "https://[::]/hook",
        "https://[::127.0.0.1]/hook",
        "https://2130706433/hook",  # 127.0.0.1 as one decimal number
        "https://0x7f.1/hook",
        "https://0177.0.0.1/hook",
        "https://127.1/hook",
        "https://0.0.0.0/hook",
        "https://0/hook",
        "https://localhost/hook",
        "https://localhost./hook",  # trailing dot
        "https://169.254.169.254/latest/meta-data/",
        "https://100.64.0.1/hook",
        "https://[64:ff9b::a9fe:a9fe]/hook",  # NAT64 of 169.254.169.254
        "https://[2002:7f00:1::]/hook",  # 6to4 of 127.0.0.1
        "https://[2002:a00:1::1]/hook",  # 6to4 of 10.0.0.1
        "https://[2002:a9fe:a9fe::]/hook",  # 6to4 of 169.254.169.254
        "https://evil.example@127.0.0.1/hook",  # userinfo
        "https://127.0.0.1:6379/hook",  # a port of a local service
        "https://bücher.example/hook",  # IDNA, not encoded
    ],
)
def test_internal_addresses_in_every_spelling_are_refused(alice_api, url):
    answer = alice_api.post("/api/v1/webhooks/", {"url": url, "events": ["file.uploaded"]})
    assert answer.status_code == 400, url
    assert answer.json()["detail"], url
    assert not Webhook.objects.exists()


def test_a_name_with_one_private_address_among_public_ones_is_refused(alice_api, monkeypatch):
    real = socket.getaddrinfo

    def attacker_dns(host, port, *args, **kwargs):
        if host != "mixed.example":
            return real(host, port, *args, **kwargs)
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port)),
        ]

    monkeypatch.setattr(socket, "getaddrinfo", attacker_dns)
    answer = alice_api.post(
        "/api/v1/webhooks/", {"url": "https://mixed.example/hook", "events": ["file.uploaded"]}
    )
    assert answer.status_code == 400
    assert "public addresses only" in answer.json()["detail"]


def test_a_6to4_address_of_a_private_ipv4_is_refused_at_delivery_too(alice, settings):
    """Stored while allowed (or by a future form of the check): the attempt refuses it again and
    nothing leaves."""
    settings.LOCKER_WEBHOOK_ALLOW_PRIVATE = True
    webhook, _secret = services.webhook_create(
        owner=alice, url="https://[2002:7f00:1::]:1/hook", events=["file.uploaded"]
    )
    settings.LOCKER_WEBHOOK_ALLOW_PRIVATE = False
    delivery = services.webhook_send_test(webhook=webhook)
    assert _attempt(delivery) == "pending"
    delivery.refresh_from_db()
    assert "public addresses only" in delivery.last_error


# --- A receiver that trickles its answer --------------------------------------------------------


class Trickler:
    """A raw TCP receiver: reads the request, sends a status line, then `payload` a byte at a
    time every `pause` seconds, then ends the answer with a 200. Records whether its
    connection was cut before it had sent everything."""

    def __init__(self, payload: bytes, *, pause: float = 0.2, chunked: bool = False):
        self.payload = payload
        self.pause = pause
        self.chunked = chunked
        self.cut_off = threading.Event()
        self.finished = threading.Event()
        self.sent = 0
        self.server = socket.create_server(("127.0.0.1", 0))
        self.thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def port(self) -> int:
        return self.server.getsockname()[1]

    def _serve(self):
        connection, _address = self.server.accept()
        with connection:
            request = b""
            while b"\r\n\r\n" not in request:
                request += connection.recv(65536)
            head, _sep, body = request.partition(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            while len(body) < length:  # unread data would make the close a reset
                body += connection.recv(65536)
            try:
                if self.chunked:
                    connection.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                    while not self.cut_off.is_set():  # never ends on its own
                        connection.sendall(b"1\r\nx\r\n")
                        self.sent += 1
                        threading.Event().wait(self.pause)
                connection.sendall(b"HTTP/1.1 200 OK\r\n")
                for byte in self.payload:
                    connection.sendall(bytes([byte]))
                    self.sent += 1
                    threading.Event().wait(self.pause)
                connection.sendall(b"\r\nContent-Length: 2\r\n\r\nok")
                self.finished.set()
                connection.settimeout(10)
                while connection.recv(65536):  # until the client closes
                    pass
            except OSError:
                if not self.finished.is_set():
                    self.cut_off.set()

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.cut_off.set()
        self.server.close()


@pytest.fixture
def short_timeouts(settings):
    settings.LOCKER_WEBHOOK_ALLOW_PRIVATE = True
    settings.LOCKER_WEBHOOK_CONNECT_TIMEOUT = 1
    settings.LOCKER_WEBHOOK_READ_TIMEOUT = 1
    return settings


def test_a_receiver_trickling_its_headers_is_cut_off_at_the_total_deadline(alice, short_timeouts):
    """Each byte comes well within the read timeout, so only a deadline for the whole attempt
    (connect + read timeouts, 2 s here) stops it; the trickle would last 16 s, and then answer a
    200 that must not count."""
    with Trickler(b"X-Slow: " + b"a" * 72) as trickler:
        webhook, _secret = services.webhook_create(
            owner=alice, url=f"http://127.0.0.1:{trickler.port}/hook", events=["file.uploaded"]
        )
        delivery = services.webhook_send_test(webhook=webhook)
        assert _attempt(delivery) == "pending"
        delivery.refresh_from_db()
        assert delivery.last_status is None
        assert delivery.last_error == "The receiver did not answer in time."
        assert trickler.cut_off.wait(10) and not trickler.finished.is_set()
        assert trickler.sent < 72


def test_a_never_ending_chunked_answer_is_cut_off(alice, short_timeouts):
    with Trickler(b"", pause=0.01, chunked=True) as trickler:
        webhook, _secret = services.webhook_create(
            owner=alice, url=f"http://127.0.0.1:{trickler.port}/hook", events=["file.uploaded"]
        )
        delivery = services.webhook_send_test(webhook=webhook)
        _attempt(delivery)
        assert trickler.cut_off.wait(10)
        delivery.refresh_from_db()
        assert len(delivery.last_response) <= 500


def test_huge_answer_headers_are_an_error_not_a_memory_sink(alice, short_timeouts):
    """Past 100 header lines the answer is refused (http.client's limit), whatever follows."""
    with Trickler(b"X-H: v\r\n" * 150, pause=0) as trickler:
        webhook, _secret = services.webhook_create(
            owner=alice, url=f"http://127.0.0.1:{trickler.port}/hook", events=["file.uploaded"]
        )
        delivery = services.webhook_send_test(webhook=webhook)
        assert _attempt(delivery) == "pending"
        delivery.refresh_from_db()
        assert delivery.last_status is None and "100 headers" in delivery.last_error


@pytest.mark.django_db(transaction=True)
def test_a_trickling_receiver_holds_a_real_worker_no_longer_than_the_deadline(
    alice, short_timeouts, start_worker
):
    start_worker(
        env={
            "LOCKER_WEBHOOK_ALLOW_PRIVATE": "true",
            "LOCKER_WEBHOOK_CONNECT_TIMEOUT": "1s",
            "LOCKER_WEBHOOK_READ_TIMEOUT": "1s",
            "LOCKER_WEBHOOK_RETRY_DELAYS": "1h",
        }
    )
    with Trickler(b"X-Slow: " + b"a" * 72) as trickler:
        webhook, _secret = services.webhook_create(
            owner=alice, url=f"http://127.0.0.1:{trickler.port}/hook", events=["file.uploaded"]
        )
        delivery = services.webhook_send_test(webhook=webhook)
        wait_for(
            lambda: (
                Delivery.objects.filter(pk=delivery.pk, attempts=1).exclude(last_error="").exists()
            ),
            timeout=60,
            what="the worker to record the attempt",
        )
        delivery.refresh_from_db()
        assert delivery.last_error == "The receiver did not answer in time."
        assert trickler.cut_off.wait(10) and not trickler.finished.is_set()


# --- Proxies from the environment ---------------------------------------------------------------


def test_proxy_variables_of_the_environment_are_not_honoured(
    alice, receiver, allow_private, monkeypatch
):
    """A proxy would see every signed body, and reach what the address check refuses."""
    with Receiver() as proxy:
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
            monkeypatch.setenv(name, proxy.url(""))
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        webhook, _secret = services.webhook_create(
            owner=alice, url=receiver.url(), events=["file.uploaded"]
        )
        assert _attempt(services.webhook_send_test(webhook=webhook)) == "succeeded"
        assert proxy.requests == []
        assert len(receiver.requests) == 1


# --- Test-event spam ----------------------------------------------------------------------------


def test_the_test_button_is_throttled_per_user(alice_api, allow_private, receiver):
    """Deleting the endpoint and adding it again does not start a new count."""

    def new_endpoint() -> str:
        return alice_api.post(
            "/api/v1/webhooks/", {"url": receiver.url(), "events": ["file.uploaded"]}
        ).json()["id"]

    first = new_endpoint()
    answers = [alice_api.post(f"/api/v1/webhooks/{first}/test/").status_code for _ in range(15)]
    assert answers == [202] * 15
    assert alice_api.delete(f"/api/v1/webhooks/{first}/").status_code == 204
    second = new_endpoint()
    answers = [alice_api.post(f"/api/v1/webhooks/{second}/test/").status_code for _ in range(7)]
    assert answers == [202] * 5 + [429] * 2
    refused = alice_api.post(f"/api/v1/webhooks/{second}/test/")
    assert "Too many test events" in refused.json()["detail"]
    assert int(refused["Retry-After"]) > 0
    assert Delivery.objects.filter(webhook__public_id=second).count() == 5


def test_test_events_obey_the_pending_cap(alice_api, allow_private, receiver, settings):
    settings.LOCKER_WEBHOOK_MAX_PENDING = 2
    created = alice_api.post(
        "/api/v1/webhooks/", {"url": receiver.url(), "events": ["file.uploaded"]}
    ).json()
    answers = [
        alice_api.post(f"/api/v1/webhooks/{created['id']}/test/").status_code for _ in range(4)
    ]
    assert answers == [202, 202, 429, 429]
    assert Delivery.objects.filter(webhook__public_id=created["id"], state="pending").count() == 2


def test_the_test_button_on_the_page_says_when_it_is_refused(alice_client, alice, allow_private):
    webhook, _secret = services.webhook_create(
        owner=alice, url="http://127.0.0.1:9/hook", events=["file.uploaded"]
    )
    for _ in range(20):
        alice_client.post(f"/webhooks/{webhook.public_id}/test")
    page = alice_client.post(f"/webhooks/{webhook.public_id}/test", follow=True)
    assert page.status_code == 200
    assert "Too many test events" in page.content.decode()
    assert Delivery.objects.filter(webhook=webhook).count() == 20


# --- The secret -------------------------------------------------------------------------------


def test_the_secret_appears_in_no_log_answer_or_page_after_creation(
    alice_api, alice_client, staff_client, allow_private, receiver, caplog
):
    caplog.set_level("DEBUG")
    receiver.answer((500, {}, b"echo"))
    created = alice_api.post(
        "/api/v1/webhooks/", {"url": receiver.url(), "events": ["file.uploaded"]}
    ).json()
    secret = created["secret"]
    delivery = Delivery.objects.get(
        public_id=alice_api.post(f"/api/v1/webhooks/{created['id']}/test/").json()["id"]
    )
    _attempt(delivery)
    assert secret not in caplog.text
    seen = [
        alice_api.get("/api/v1/webhooks/").content,
        alice_api.get(f"/api/v1/webhooks/{created['id']}/").content,
        alice_api.get(f"/api/v1/webhooks/{created['id']}/deliveries/").content,
        alice_client.get("/webhooks/").content,
        alice_client.get(f"/webhooks/{created['id']}/").content,
    ]
    webhook_pk = Delivery.objects.get(pk=delivery.pk).webhook_id
    admin = staff_client.get(f"/admin/webhooks/webhook/{webhook_pk}/change/")
    assert admin.status_code == 200
    seen.append(admin.content)
    for content in seen:
        assert secret.encode() not in content
    # What was sent carries only its HMAC.
    (request,) = receiver.requests
    assert secret.encode() not in request.body
    assert all(secret not in value for value in request.headers.values())


# --- A worker killed mid-delivery (SIGKILL), with real workers --------------------------------


class Holding:
    """A receiver that records each request and holds its answer (the worker is mid-delivery)
    while `hold` is set; once cleared it answers 200 at once."""

    def __init__(self):
        self.requests: list[dict[str, str]] = []
        self.hold = threading.Event()
        self.hold.set()
        self.released = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.requests.append(dict(self.headers))
                if receiver.hold.is_set():
                    receiver.released.wait(120)
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.released.set()
        self.server.shutdown()
        self.server.server_close()


def _kill_mid_delivery(worker, holding, delivery_pk: int, count: int) -> None:
    """SIGKILL the worker while the receiver holds request number `count`; then let the
    attempt's lease run out (as if its minute had passed) and start the worker again."""
    wait_for(lambda: len(holding.requests) >= count, timeout=60, what=f"request {count}")
    worker.kill()
    delivery = Delivery.objects.get(pk=delivery_pk)
    assert (delivery.state, delivery.attempts) == ("pending", count)
    assert delivery.next_attempt_at > timezone.now()  # leased to the dead worker
    Delivery.objects.filter(pk=delivery_pk).update(
        next_attempt_at=timezone.now() - timedelta(minutes=2)
    )
    worker.start()
    task_queue("webhooks.tasks.requeue_due")  # the beat's sweep, run by the worker


@pytest.fixture
def holding(settings):
    settings.LOCKER_WEBHOOK_ALLOW_PRIVATE = True
    with Holding() as server:
        yield server


HOLDING_WORKER_ENV = {"LOCKER_WEBHOOK_ALLOW_PRIVATE": "true", "LOCKER_WEBHOOK_READ_TIMEOUT": "60s"}


@pytest.mark.django_db(transaction=True)
def test_a_delivery_killed_mid_attempt_comes_back_once(alice, holding, start_worker):
    worker = start_worker(env={**HOLDING_WORKER_ENV, "LOCKER_WEBHOOK_RETRY_DELAYS": "1s,1s"})
    webhook, _secret = services.webhook_create(
        owner=alice, url=holding.url(), events=["file.uploaded"]
    )
    delivery = services.webhook_send_test(webhook=webhook)
    _kill_mid_delivery(worker, holding, delivery.pk, 1)
    holding.hold.clear()
    wait_for(
        lambda: Delivery.objects.filter(pk=delivery.pk, state="succeeded").exists(),
        timeout=60,
        what="the delivery to be sent again and succeed",
    )
    first, second = holding.requests
    assert first["Locker-Delivery"] == second["Locker-Delivery"] == str(delivery.public_id)
    assert Delivery.objects.get(pk=delivery.pk).attempts == 2
    assert services.deliveries_requeue_due(now=timezone.now() + timedelta(days=2)) == 0


@pytest.mark.django_db(transaction=True)
def test_an_attempt_that_always_kills_its_worker_is_not_sent_without_end(
    alice, holding, start_worker
):
    """One retry allowed: two attempts, both killed mid-request. The sweep must not send it a
    third time (attempts are bounded even when no attempt ever finishes)."""
    worker = start_worker(env={**HOLDING_WORKER_ENV, "LOCKER_WEBHOOK_RETRY_DELAYS": "1s"})
    webhook, _secret = services.webhook_create(
        owner=alice, url=holding.url(), events=["file.uploaded"]
    )
    delivery = services.webhook_send_test(webhook=webhook)
    _kill_mid_delivery(worker, holding, delivery.pk, 1)
    _kill_mid_delivery(worker, holding, delivery.pk, 2)
    holding.hold.clear()  # a third request would be answered at once
    wait_for(
        lambda: not Delivery.objects.filter(pk=delivery.pk, state="pending").exists(),
        timeout=60,
        what="the delivery to be finished",
    )
    assert len(holding.requests) == 2
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == ("failed", 2)
    assert "did not finish" in delivery.last_error


# --- Floods, scope, what the log shows ------------------------------------------------------


def test_one_upload_of_many_files_by_a_visitor_does_not_pass_the_pending_cap(
    alice, allow_private, settings
):
    """Anyone with an upload link can send up to 100 files in one request: 100 events. The
    owner's endpoint still gets at most LOCKER_WEBHOOK_MAX_PENDING deliveries waiting."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from sharing.upload_links import upload_link_create
    from tests.sharing.conftest import make_folder

    settings.LOCKER_WEBHOOK_MAX_PENDING = 3
    webhook, _secret = services.webhook_create(
        owner=alice, url="http://127.0.0.1:9/hook", events=["file.uploaded"]
    )
    _link, token = upload_link_create(owner=alice, folder=make_folder(alice, "Inbox"))
    files = [SimpleUploadedFile(f"f{i}.txt", b"x") for i in range(8)]
    assert Client().post(f"/r/{token}/upload", {"file": files}).status_code == 201
    assert Delivery.objects.filter(webhook=webhook, state="pending").count() == 3


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_no_redirect_is_followed_to_an_internal_address(alice, receiver, allow_private, status):
    with Receiver() as internal:
        receiver.answer((status, {"Location": internal.url("/admin")}, b""))
        webhook, _secret = services.webhook_create(
            owner=alice, url=receiver.url(), events=["file.uploaded"]
        )
        delivery = services.webhook_send_test(webhook=webhook)
        assert _attempt(delivery) == "pending"
        assert internal.requests == [] and len(receiver.requests) == 1


def test_a_user_cannot_widen_an_endpoint_to_the_whole_instance(alice_api, allow_private):
    created = alice_api.post(
        "/api/v1/webhooks/", {"url": "http://127.0.0.1:9/hook", "events": ["file.uploaded"]}
    ).json()
    changed = alice_api.patch(f"/api/v1/webhooks/{created['id']}/", {"scope": "instance"})
    assert changed.status_code == 400 and changed.json()["detail"]
    assert Webhook.objects.get(public_id=created["id"]).scope == "mine"


def test_the_receivers_answer_and_the_url_are_escaped_on_the_page(
    alice, alice_client, receiver, allow_private
):
    receiver.answer((500, {}, b"<script>alert(1)</script><img src=x onerror=alert(2)>"))
    webhook, _secret = services.webhook_create(
        owner=alice, url=receiver.url("/<svg/onload=alert(3)>"), events=["file.uploaded"]
    )
    _attempt(services.webhook_send_test(webhook=webhook))
    page = alice_client.get(f"/webhooks/{webhook.public_id}/").content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    for raw in ("<script>alert(1)", "<img src=x", "<svg/onload"):
        assert raw not in page


def test_url_checks_are_limited_per_user(alice_api, bob_api):
    """Each check resolves a name of the user's choosing in the web request (a slow resolver
    holds a web worker; the answers tell which internal names exist): 30 in 10 minutes."""
    answers = [
        alice_api.post(
            "/api/v1/webhooks/",
            {"url": f"https://name-{i}.invalid/hook", "events": ["file.uploaded"]},
        ).json()["detail"]
        for i in range(31)
    ]
    assert all("cannot be resolved" in answer for answer in answers[:30])
    assert "Too many webhook addresses checked" in answers[30]
    other = bob_api.post(
        "/api/v1/webhooks/", {"url": "https://x.invalid/hook", "events": ["file.uploaded"]}
    )
    assert "cannot be resolved" in other.json()["detail"]  # each user has their own count


def test_hours_long_retries_leave_no_message_waiting_on_the_broker(
    alice, receiver, allow_private, settings
):
    """An endpoint down for long, times a thousand pending deliveries: each retry hours away
    would be a countdown message held by the workers (and handed out again by Redis each
    visibility timeout). A short retry is queued; a long one is left to the sweep."""
    import redis
    from django.conf import settings as conf

    from locker.celery import app

    broker = redis.Redis.from_url(app.conf.broker_url)
    queue = conf.CELERY_TASK_DEFAULT_QUEUE
    receiver.answer((503, {}, b"down"))
    webhook, _secret = services.webhook_create(
        owner=alice, url=receiver.url(), events=["file.uploaded"]
    )
    settings.LOCKER_WEBHOOK_RETRY_DELAYS = [60, 3 * 3600]
    delivery = services.webhook_send_test(webhook=webhook)
    broker.delete(queue)
    assert _attempt(delivery) == "pending"  # the next in 1 minute: queued
    assert broker.llen(queue) == 1
    broker.delete(queue)
    assert _attempt(delivery) == "pending"  # the next in 3 hours: the sweep's
    assert broker.llen(queue) == 0
    delivery.refresh_from_db()
    Delivery.objects.filter(pk=delivery.pk).update(
        next_attempt_at=timezone.now() - timedelta(minutes=2)
    )
    assert services.deliveries_requeue_due() == 1
    assert broker.llen(queue) == 1


def test_visitors_addresses_in_events_are_anonymised_like_the_access_log(
    alice, allow_private, settings
):
    """A visitor's upload or download tells the owner's endpoint no more than the owner's own
    access log: the address truncated when LOCKER_ANONYMISE_IPS, no user agent, no account."""
    import json

    from django.core.files.uploadedfile import SimpleUploadedFile

    from sharing.services import share_create
    from sharing.upload_links import upload_link_create
    from tests.sharing.conftest import make_folder, store_file

    settings.LOCKER_ANONYMISE_IPS = True
    webhook, _secret = services.webhook_create(
        owner=alice,
        url="http://127.0.0.1:9/hook",
        events=["file.uploaded", "share.downloaded"],
    )
    visitor = Client(REMOTE_ADDR="203.0.113.77", HTTP_USER_AGENT="Visitor/1.0")
    _link, token = upload_link_create(owner=alice, folder=make_folder(alice, "Inbox"))
    sent = visitor.post(f"/r/{token}/upload", {"file": [SimpleUploadedFile("a.txt", b"a")]})
    assert sent.status_code == 201
    _share, share_token = share_create(owner=alice, file=store_file(alice, "r.txt", b"data"))
    download = visitor.get(f"/s/{share_token}/download")
    assert b"".join(download.streaming_content) == b"data"
    bodies = [json.loads(d.body) for d in Delivery.objects.filter(webhook=webhook)]
    by_event = {body["type"]: body["data"] for body in bodies}
    assert by_event["file.uploaded"]["uploaded_by"]["ip"] == "203.0.113.0"
    assert by_event["share.downloaded"]["download"]["ip"] == "203.0.113.0"
    for body in bodies:
        text = json.dumps(body)
        assert "203.0.113.77" not in text and "Visitor/1.0" not in text


class Blackhole:
    """Accepts connections, reads the request and never answers (until closed)."""

    def __init__(self):
        self.connections = 0
        self.server = socket.create_server(("127.0.0.1", 0))
        self.open: list[socket.socket] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.getsockname()[1]}/hook"

    def _serve(self):
        while True:
            try:
                connection, _address = self.server.accept()
            except OSError:
                return
            self.connections += 1
            self.open.append(connection)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.close()
        for connection in self.open:
            connection.close()


def test_a_receiver_that_never_answers_costs_one_timeout_not_one_per_delivery(
    alice, short_timeouts
):
    """Many events queued for an endpoint that never answers: after its first timeout, the
    others wait (not counted as attempts) instead of each holding the worker for the timeout."""
    with Blackhole() as blackhole:
        webhook, _secret = services.webhook_create(
            owner=alice, url=blackhole.url(), events=["file.uploaded"]
        )
        deliveries = [services.webhook_send_test(webhook=webhook) for _ in range(5)]
        results = [services.delivery_attempt(delivery_id=d.pk) for d in deliveries]
        assert results == ["pending", None, None, None, None]
        assert blackhole.connections == 1
        held = Delivery.objects.filter(pk__in=[d.pk for d in deliveries[1:]])
        assert {row.attempts for row in held} == {0}
        assert all(row.next_attempt_at > timezone.now() for row in held)
        # Once the hold-off is over, the sweep queues them again.
        held.update(next_attempt_at=timezone.now() - timedelta(minutes=2))
        Delivery.objects.filter(pk=deliveries[0].pk).update(
            last_attempt_at=timezone.now() - timedelta(minutes=5)
        )
        assert services.deliveries_requeue_due() == 4
        # Held back past the retries' whole span (the endpoint kept failing): given up.
        Delivery.objects.filter(pk=deliveries[0].pk).update(last_attempt_at=timezone.now())
        held.update(created_at=timezone.now() - timedelta(days=3))
        assert services.delivery_attempt(delivery_id=deliveries[1].pk) is None
        given_up = Delivery.objects.get(pk=deliveries[1].pk)
        assert (given_up.state, given_up.attempts) == ("failed", 0)
        assert blackhole.connections == 1
