"""Deliveries against a real receiver (a threaded HTTP server on 127.0.0.1): the signature as
documented, retries, redirects, the address check at delivery time, the log and its pruning.
The attempts run in this process (webhooks.services.delivery_attempt, what the task calls);
tests/workers/test_webhook_worker.py runs them through a real worker."""

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from webhooks import services
from webhooks.models import Delivery, Webhook

pytestmark = pytest.mark.django_db

DOC = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"


def documented_verify():
    """The `verify` function of docs/webhooks.md, run as the reader would copy it."""
    text = DOC.read_text()
    section = text.split("## Verifying the signature", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    namespace: dict = {}
    exec(compile(code, str(DOC), "exec"), namespace)  # noqa: S102 - our own documentation
    return namespace["verify"]


@pytest.fixture
def hook(alice, receiver, allow_private):
    webhook, secret = services.webhook_create(
        owner=alice, url=receiver.url(), events=["share.revoked", "file.uploaded"]
    )
    webhook.secret = secret
    return webhook


def _attempt(delivery: Delivery) -> str | None:
    """The next attempt, now (as if its retry delay had passed)."""
    Delivery.objects.filter(pk=delivery.pk, state="pending").update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )
    return services.delivery_attempt(delivery_id=delivery.pk)


def test_a_delivery_is_signed_as_the_documentation_verifies_it(hook, receiver):
    delivery = services.webhook_send_test(webhook=hook)
    assert _attempt(delivery) == "succeeded"
    (request,) = receiver.requests
    verify = documented_verify()
    assert verify(hook.secret, request.headers["Locker-Signature"], request.body)
    # Any other secret, body or old timestamp fails.
    assert not verify("whsec_other", request.headers["Locker-Signature"], request.body)
    assert not verify(hook.secret, request.headers["Locker-Signature"], request.body + b" ")
    t, v1 = request.headers["Locker-Signature"].split(",")
    old = f"t={int(t[2:]) - 3600},{v1}"
    assert not verify(hook.secret, old, request.body)
    assert request.headers["Locker-Event"] == "webhook.test"
    assert request.headers["Locker-Delivery"] == str(delivery.public_id)
    assert request.headers["Content-Type"] == "application/json"
    body = json.loads(request.body)
    assert set(body) == {"id", "type", "created_at", "data"}
    assert body["type"] == "webhook.test" and body["id"] == str(delivery.event_id)


def test_a_500_is_retried_and_the_retry_sends_the_same_body(hook, receiver, settings):
    settings.LOCKER_WEBHOOK_RETRY_DELAYS = [60, 300]
    receiver.answer((500, {}, b"oops"), (200, {}, b"ok"))
    delivery = services.webhook_send_test(webhook=hook)
    assert _attempt(delivery) == "pending"
    delivery.refresh_from_db()
    assert delivery.last_status == 500 and delivery.last_response == "oops"
    assert delivery.attempts == 1
    # The next attempt waits for the first delay.
    wait = (delivery.next_attempt_at - delivery.last_attempt_at).total_seconds()
    assert 59 <= wait <= 61
    assert services.delivery_attempt(delivery_id=delivery.pk) is None  # not due yet
    assert _attempt(delivery) == "succeeded"
    first, second = receiver.requests
    assert first.body == second.body
    assert first.headers["Locker-Delivery"] == second.headers["Locker-Delivery"]
    delivery.refresh_from_db()
    assert delivery.attempts == 2 and delivery.last_status == 200
    assert delivery.next_attempt_at is None


def test_a_delivery_fails_for_good_after_the_last_retry(hook, receiver, settings):
    settings.LOCKER_WEBHOOK_RETRY_DELAYS = [60, 300]
    receiver.answer((503, {}, b"down"))
    delivery = services.webhook_send_test(webhook=hook)
    assert [_attempt(delivery) for _ in range(3)] == ["pending", "pending", "failed"]
    assert _attempt(delivery) is None
    assert len(receiver.requests) == 3


def test_redirects_are_not_followed(hook, receiver):
    receiver.answer((302, {"Location": receiver.url("/elsewhere")}, b""))
    delivery = services.webhook_send_test(webhook=hook)
    assert _attempt(delivery) == "pending"
    assert [request.path for request in receiver.requests] == ["/hook"]
    delivery.refresh_from_db()
    assert delivery.last_status == 302


def test_a_private_address_is_refused_at_delivery_time(hook, receiver, settings):
    """Registered while allowed (or when the name resolved elsewhere): the check runs again
    after resolving, at each attempt, and nothing is sent to 127.0.0.1."""
    https = receiver.url(host="localhost").replace("http:", "https:")
    services.webhook_update(webhook=hook, data={"url": https})
    settings.LOCKER_WEBHOOK_ALLOW_PRIVATE = False
    delivery = services.webhook_send_test(webhook=hook)
    assert _attempt(delivery) == "pending"
    delivery.refresh_from_db()
    assert "public addresses only" in delivery.last_error and delivery.last_status is None
    assert receiver.requests == []


def test_the_connection_goes_to_the_resolved_address_with_the_name_as_host(hook, receiver):
    services.webhook_update(webhook=hook, data={"url": receiver.url(host="localhost")})
    delivery = services.webhook_send_test(webhook=hook)
    assert _attempt(delivery) == "succeeded"
    assert receiver.requests[0].headers["Host"] == f"localhost:{receiver.port}"


def test_only_the_start_of_a_long_answer_is_kept(hook, receiver):
    receiver.answer((200, {}, b"x" * 200_000))
    delivery = services.webhook_send_test(webhook=hook)
    assert _attempt(delivery) == "succeeded"
    delivery.refresh_from_db()
    assert delivery.last_response == "x" * 500


def test_a_refused_connection_is_an_error_retried(hook, receiver):
    services.webhook_update(webhook=hook, data={"url": "http://127.0.0.1:9/closed"})
    delivery = services.webhook_send_test(webhook=hook)
    assert _attempt(delivery) == "pending"
    delivery.refresh_from_db()
    assert delivery.last_error and delivery.last_status is None


def test_a_deleted_webhook_is_not_attempted(hook, receiver):
    delivery = services.webhook_send_test(webhook=hook)
    services.webhook_delete(webhook=hook)
    assert services.delivery_attempt(delivery_id=delivery.pk) is None
    assert receiver.requests == []


def test_the_log_keeps_the_newest_deliveries(hook, receiver, settings):
    settings.LOCKER_WEBHOOK_LOG_SIZE = 3
    deliveries = [services.webhook_send_test(webhook=hook) for _ in range(5)]
    for delivery in deliveries:
        _attempt(delivery)
    kept = set(Delivery.objects.filter(webhook=hook).values_list("pk", flat=True))
    assert kept == {delivery.pk for delivery in deliveries[-3:]}


def test_lost_deliveries_are_queued_again_by_the_sweep(hook, django_capture_on_commit_callbacks):
    delivery = services.webhook_send_test(webhook=hook)
    assert services.deliveries_requeue_due() == 0  # just queued: not lost
    Delivery.objects.filter(pk=delivery.pk).update(
        next_attempt_at=timezone.now() - timedelta(minutes=5)
    )
    assert services.deliveries_requeue_due() == 1


def test_dns_rebinding_cannot_move_the_connection_to_loopback(
    hook, receiver, settings, monkeypatch
):
    """The attacker's DNS answers a public address to the check and 127.0.0.1 afterwards: the
    name is resolved once, and the connection goes to the address that was checked."""
    import socket

    # Registered while the name resolved to a public address.
    Webhook.objects.filter(pk=hook.pk).update(url=f"https://rebind.example:{receiver.port}/hook")
    settings.LOCKER_WEBHOOK_ALLOW_PRIVATE = False
    settings.LOCKER_WEBHOOK_CONNECT_TIMEOUT = 1
    lookups = []

    def attacker_dns(host, port, *args, **kwargs):
        lookups.append(host)
        if host != "rebind.example":
            return real_getaddrinfo(host, port, *args, **kwargs)
        address = "93.184.215.14" if len(lookups) == 1 else "127.0.0.1"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    real_getaddrinfo = socket.getaddrinfo
    monkeypatch.setattr(socket, "getaddrinfo", attacker_dns)
    delivery = services.webhook_send_test(webhook=hook)
    assert _attempt(delivery) == "pending"
    assert lookups.count("rebind.example") == 1  # then only the checked address itself
    assert set(lookups) <= {"rebind.example", "93.184.215.14"}
    assert receiver.requests == []


def test_rotatekeys_reseals_the_secret_and_deliveries_still_verify(hook, receiver, settings):
    import base64
    import os
    from io import StringIO

    from django.core.management import call_command

    before = Webhook.objects.get(pk=hook.pk)
    new_key = f"k-new:{base64.b64encode(os.urandom(32)).decode()}"
    settings.LOCKER_MASTER_KEYS = new_key + "," + settings.LOCKER_MASTER_KEYS
    out = StringIO()
    call_command("rotatekeys", stdout=out, stderr=StringIO())
    assert "Still under an older key: 0" in out.getvalue()
    row = Webhook.objects.get(pk=hook.pk)
    assert row.secret_key_id == "k-new" != before.secret_key_id
    settings.LOCKER_MASTER_KEYS = new_key  # the old key is gone
    delivery = services.webhook_send_test(webhook=row)
    assert _attempt(delivery) == "succeeded"
    request = receiver.requests[0]
    assert documented_verify()(hook.secret, request.headers["Locker-Signature"], request.body)


def test_a_secret_copied_to_another_webhook_does_not_open(hook, alice):
    other, _secret = services.webhook_create(owner=alice, url=hook.url, events=["share.revoked"])
    Webhook.objects.filter(pk=other.pk).update(
        secret_sealed=hook.secret_sealed, secret_key_id=hook.secret_key_id
    )
    assert services.webhook_secret(Webhook.objects.get(pk=other.pk)) is None
    assert services.webhook_secret(Webhook.objects.get(pk=hook.pk)) == hook.secret


def test_an_answer_with_nul_bytes_is_logged_not_fatal(hook, receiver):
    receiver.answer((200, {}, b"ok\x00\xff then more"))
    delivery = services.webhook_send_test(webhook=hook)
    assert _attempt(delivery) == "succeeded"
    delivery.refresh_from_db()
    assert delivery.last_response.startswith("ok") and "\x00" not in delivery.last_response
