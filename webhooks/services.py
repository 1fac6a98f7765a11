"""What the webhooks app does (docs/webhooks.md): endpoints kept, events recorded as deliveries
in the emitting transaction, and deliveries attempted by the worker with retries."""

import json
import logging
import secrets
import time
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Count, F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from locker.celery import task_queue
from locker.throttle import Throttle
from storage import crypto, masterkeys
from webhooks import transport
from webhooks.models import SECRET_PURPOSE, TEST_EVENT, Delivery, Event, Webhook
from webhooks.signing import signature_header

logger = logging.getLogger(__name__)

S = Delivery.State
DELIVER_TASK = "webhooks.tasks.deliver"


# --- Endpoints -------------------------------------------------------------------------------


def _clean_events(events) -> list[str]:
    if not isinstance(events, list | tuple) or not events:
        raise ValidationError({"events": _("Choose at least one event.")})
    unknown = [str(event) for event in events if event not in Event.values]
    if unknown:
        raise ValidationError(
            {"events": _("Unknown event: %(name)s.") % {"name": ", ".join(unknown)[:200]}}
        )
    return [event for event in Event.values if event in events]


# Checking a URL resolves its host name in the web request: a user trying names without end
# would hold web workers on slow resolvers of their choosing, and map which internal names exist
# ("cannot be resolved" against "a private address").
URL_CHECK_THROTTLE = Throttle("webhook-url-check", limit=30, window=600)


def _clean_url(url: str, owner) -> str:
    wait = URL_CHECK_THROTTLE.take(str(owner.pk))
    if wait is not None:
        raise ValidationError(
            {
                "url": _(
                    "Too many webhook addresses checked lately: try again in %(seconds)d seconds."
                )
                % {"seconds": wait}
            }
        )
    try:
        transport.url_check(url)
    except transport.UnsafeURL as exc:
        raise ValidationError({"url": str(exc)}) from None
    return url


def _clean_scope(scope: str, owner) -> str:
    if scope not in Webhook.Scope.values:
        raise ValidationError({"scope": _("The scope is “mine” or “instance”.")})
    if scope == Webhook.Scope.INSTANCE and not owner.is_staff:
        raise ValidationError({"scope": _("Only staff may receive every user's events.")})
    return scope


def secret_new() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def webhook_create(
    *, owner, url: str, events: list[str], active: bool = True, scope: str = Webhook.Scope.MINE
) -> tuple[Webhook, str]:
    """A new endpoint and its signing secret (shown to its owner this once). At most
    LOCKER_WEBHOOK_MAX_PER_USER per user, counted under a lock on the user's row."""
    events = _clean_events(events)
    scope = _clean_scope(scope, owner)
    url = _clean_url(url, owner)
    secret = secret_new()
    with transaction.atomic():
        get_user_model().objects.select_for_update().filter(pk=owner.pk).first()
        if Webhook.objects.filter(owner=owner).count() >= settings.LOCKER_WEBHOOK_MAX_PER_USER:
            raise ValidationError(
                _("You have the most webhooks allowed (%(max)d): delete one first.")
                % {"max": settings.LOCKER_WEBHOOK_MAX_PER_USER}
            )
        webhook = Webhook(owner=owner, url=url, events=events, active=active, scope=scope)
        webhook.secret_key_id, webhook.secret_sealed = masterkeys.seal(
            secret.encode("utf-8"), purpose=SECRET_PURPOSE, context=str(webhook.public_id)
        )
        webhook.save()
    return webhook, secret


def webhook_update(*, webhook: Webhook, data: dict) -> Webhook:
    """Change `url`, `events`, `active`, `scope` (the secret never changes)."""
    changes = {}
    if "events" in data:
        changes["events"] = _clean_events(data["events"])
    if "scope" in data:
        changes["scope"] = _clean_scope(data["scope"], webhook.owner)
    if "url" in data and data["url"] != webhook.url:
        changes["url"] = _clean_url(data["url"], webhook.owner)
    if "active" in data:
        changes["active"] = bool(data["active"])
    if changes:
        Webhook.objects.filter(pk=webhook.pk).update(**changes)
        for field, value in changes.items():
            setattr(webhook, field, value)
    return webhook


def webhook_delete(*, webhook: Webhook) -> None:
    """Gone at once, with its deliveries (a queued attempt finds nothing and stops)."""
    webhook.delete()


def webhook_secret(webhook: Webhook) -> str | None:
    """The signing secret, or None when it cannot be opened (master key removed, tampered)."""
    try:
        return masterkeys.unseal(
            bytes(webhook.secret_sealed),
            master_key_id=webhook.secret_key_id,
            purpose=SECRET_PURPOSE,
            context=str(webhook.public_id),
        ).decode("utf-8")
    except (masterkeys.UnknownMasterKeyError, crypto.DecryptionError, UnicodeDecodeError) as exc:
        logger.warning("The secret of webhook %s cannot be opened: %s", webhook.pk, exc)
        return None


# --- Events ----------------------------------------------------------------------------------


def _body(event_id: uuid.UUID, event: str, now: datetime, data: dict) -> str:
    envelope = {"id": str(event_id), "type": event, "created_at": now.isoformat(), "data": data}
    return json.dumps(envelope, cls=DjangoJSONEncoder, separators=(",", ":"), ensure_ascii=False)


def _queue_deliveries(pks: list[int]) -> None:
    for pk in pks:
        # Lost (broker down)? The periodic sweep (deliveries_requeue_due) sends it later.
        try:
            task_queue(DELIVER_TASK, (pk,))
        except Exception:  # noqa: BLE001 - the event is recorded; never fail its request
            logger.warning("Could not queue webhook delivery %s", pk, exc_info=True)


def _record(webhooks: list[Webhook], event: str, data: dict) -> list[Delivery]:
    now = timezone.now()
    event_id = uuid.uuid4()
    body = _body(event_id, event, now, data)
    deliveries = Delivery.objects.bulk_create(
        [
            Delivery(
                webhook=webhook,
                event_id=event_id,
                event=event,
                body=body,
                created_at=now,
                next_attempt_at=now,
            )
            for webhook in webhooks
        ]
    )
    pks = [delivery.pk for delivery in deliveries]
    transaction.on_commit(lambda: _queue_deliveries(pks), robust=True)
    return deliveries


def owner_data(owner) -> dict:
    return {"id": owner.pk, "username": owner.get_username()}


def emit(event: str, *, owner, data: dict) -> int:
    """Record `event` (one of Event) about something of `owner` for every active endpoint that
    asked for it: the owner's own, and staff's instance-wide ones. Returns how many deliveries.

    Call it inside the transaction that makes the change: the deliveries are rows of that
    transaction (rolled back with it) and are queued once it commits. It costs one query when
    nobody listens, and never raises: a failure here is logged, inside a savepoint, and the
    emitting request goes on as if there were no webhooks.
    """
    return emit_each(event, owner=owner, items=[data])


def emit_each(event: str, *, owner, items: list[dict]) -> int:
    """`emit` of one event per item (the files of one upload), listeners looked up once."""
    if not items:
        return 0
    try:
        with transaction.atomic():
            candidates = (
                Webhook.objects.filter(active=True, owner__is_active=True)
                .filter(
                    Q(owner_id=owner.pk, scope=Webhook.Scope.MINE)
                    | Q(scope=Webhook.Scope.INSTANCE, owner__is_staff=True)
                )
                .annotate(pending=Count("deliveries", filter=Q(deliveries__state=S.PENDING)))
                .only("pk", "events")
            )
            listening = []
            for webhook in candidates:
                if event not in webhook.events:
                    continue
                # An endpoint down for long (or flooded) does not pile up deliveries without end.
                if webhook.pending >= settings.LOCKER_WEBHOOK_MAX_PENDING:
                    logger.warning(
                        "Webhook %s has too many pending deliveries: dropped %s", webhook.pk, event
                    )
                    continue
                listening.append(webhook)
            if not listening:
                return 0
            who = owner_data(owner)
            # The cap holds within one call too (an upload of 100 files is 100 events).
            room = settings.LOCKER_WEBHOOK_MAX_PENDING
            recorded = 0
            for index, data in enumerate(items):
                hearing = [webhook for webhook in listening if webhook.pending + index < room]
                if not hearing:
                    logger.warning("Webhooks with too many pending deliveries: dropped %s", event)
                    break
                recorded += len(_record(hearing, event, {**data, "owner": who}))
            return recorded
    except Exception:  # noqa: BLE001 - webhooks never break what they report on
        logger.exception("Could not record the %s webhook event", event)
        return 0


# Each test event is an outgoing request (and up to len(RETRY_DELAYS) more when it fails) to an
# address of the user's choosing: the button is not a way to make the worker post without end.
# Counted per user, not per endpoint: deleting and adding an endpoint again starts no new count.
TEST_THROTTLE = Throttle("webhook-test", limit=20, window=600)


class SendTestRefused(Exception):
    """No test event now; the message is a sentence, `wait` the seconds to wait (or None)."""

    def __init__(self, message: str, wait: int | None = None):
        super().__init__(message)
        self.wait = wait


def webhook_send_test(*, webhook: Webhook) -> Delivery:
    """A `webhook.test` delivery to this endpoint alone (whatever its events, even paused).
    SendTestRefused past TEST_THROTTLE's tests per user, or when the endpoint already has
    LOCKER_WEBHOOK_MAX_PENDING deliveries waiting (the cap events obey)."""
    pending = Delivery.objects.filter(webhook=webhook, state=S.PENDING).count()
    if pending >= settings.LOCKER_WEBHOOK_MAX_PENDING:
        raise SendTestRefused(
            _("This webhook has too many deliveries waiting: try again once they are sent.")
        )
    wait = TEST_THROTTLE.take(str(webhook.owner_id))
    if wait is not None:
        raise SendTestRefused(
            _("Too many test events lately: try again in %(seconds)d seconds.") % {"seconds": wait},
            wait=wait,
        )
    with transaction.atomic():
        (delivery,) = _record(
            [webhook],
            TEST_EVENT,
            {
                "webhook": {"id": str(webhook.public_id), "url": webhook.url},
                "message": "This is a test event sent from Locker.",
                "owner": owner_data(webhook.owner),
            },
        )
    return delivery


# --- Deliveries (the worker) -----------------------------------------------------------------


HOLD_OFF = timedelta(minutes=1)


def _failed_lately(webhook_id: int, delivery_id: int, now: datetime) -> bool:
    """Another delivery to this endpoint failed within HOLD_OFF (no answer, or not a 2xx)."""
    return (
        Delivery.objects.filter(webhook_id=webhook_id, last_attempt_at__gte=now - HOLD_OFF)
        .filter(~Q(last_error="") | Q(last_status__lt=200) | Q(last_status__gte=300))
        .exclude(pk=delivery_id)
        .exists()
    )


RETRY_COUNTDOWN_MAX = 600  # seconds: later retries are queued by deliveries_requeue_due


def _lease() -> timedelta:
    """How long an attempt holds its delivery: a worker killed mid-attempt frees it after."""
    seconds = settings.LOCKER_WEBHOOK_CONNECT_TIMEOUT + settings.LOCKER_WEBHOOK_READ_TIMEOUT
    return timedelta(seconds=seconds + 60)


def _headers(delivery: Delivery, secret: str, body: bytes) -> dict[str, str]:
    return {
        "Locker-Event": delivery.event,
        "Locker-Delivery": str(delivery.public_id),
        "Locker-Signature": signature_header(secret=secret, body=body, timestamp=int(time.time())),
    }


def delivery_attempt(*, delivery_id: int) -> str | None:
    """One attempt of a due delivery; returns its state after, or None when it was not due
    (delivered or given up already, another worker on it, deleted): safe to run twice.

    The attempt is claimed by a conditional update that moves `next_attempt_at` past the
    attempt's longest duration; a failed attempt is tried again after the next of
    LOCKER_WEBHOOK_RETRY_DELAYS, and the delivery fails for good after the last.
    """
    now = timezone.now()
    lease_end = now + _lease()
    delays = settings.LOCKER_WEBHOOK_RETRY_DELAYS
    due = Delivery.objects.filter(pk=delivery_id, state=S.PENDING, next_attempt_at__lte=now)
    row = due.values_list("webhook_id", "created_at").first()
    if row is not None and _failed_lately(row[0], delivery_id, now):
        # Its endpoint failed a moment ago: a thousand deliveries queued for a receiver that
        # never answers would each hold the worker for the whole timeout. Not an attempt: the
        # delivery waits HOLD_OFF (then the sweep queues it), so one attempt a while probes it;
        # past the retries' whole span it is given up, as its own attempts would have been.
        if row[1] < now - timedelta(seconds=sum(delays)):
            due.update(
                state=S.FAILED,
                next_attempt_at=None,
                last_error=_("Its endpoint kept failing: given up."),
            )
        else:
            due.update(next_attempt_at=now + HOLD_OFF)
        return None
    claimed = due.filter(attempts__lte=len(delays)).update(
        next_attempt_at=lease_end, attempts=F("attempts") + 1, last_attempt_at=now
    )
    if not claimed:
        # Every attempt was claimed and the last never finished (its worker was killed, or hit
        # the task time limit): it is not sent again. Without this, an attempt that always kills
        # its worker would be sent again by the sweep, once per lease, without end.
        due.filter(attempts__gt=len(delays)).update(
            state=S.FAILED,
            next_attempt_at=None,
            last_error=_("The last attempt did not finish (the worker stopped)."),
        )
        return None
    delivery = Delivery.objects.select_related("webhook").get(pk=delivery_id)
    webhook = delivery.webhook
    secret = webhook_secret(webhook)
    if secret is None:
        answer = transport.Answer(None, "", _("The signing secret cannot be opened."), 0)
        final = True
    elif not webhook.active and delivery.event != TEST_EVENT:
        answer = transport.Answer(None, "", _("The endpoint is paused."), 0)
        final = True
    else:
        body = delivery.body.encode("utf-8")
        answer = transport.post(webhook.url, body, _headers(delivery, secret, body))
        final = False
    changes = {
        "last_status": answer.status,
        "last_response": answer.excerpt,
        "last_error": answer.error,
        "last_duration_ms": answer.duration_ms,
    }
    retry_in = None
    if answer.ok:
        changes.update(state=S.SUCCEEDED, next_attempt_at=None)
    elif final or delivery.attempts > len(delays):
        changes.update(state=S.FAILED, next_attempt_at=None)
    else:
        retry_in = delays[delivery.attempts - 1]
        changes.update(next_attempt_at=timezone.now() + timedelta(seconds=retry_in))
    Delivery.objects.filter(pk=delivery.pk, next_attempt_at=lease_end).update(**changes)
    # A countdown message sits in the worker's memory until due, and the Redis broker hands it
    # out again each visibility timeout it stays unacknowledged: hours-long retries of thousands
    # of deliveries (an endpoint down) would pile up in every worker. Those are left to the
    # sweep, which queues each delivery once it is due.
    if retry_in is not None and retry_in <= RETRY_COUNTDOWN_MAX:
        try:
            task_queue(DELIVER_TASK, (delivery.pk,), countdown=retry_in)
        except Exception:  # noqa: BLE001 - the sweep sends it when due
            logger.warning("Could not queue the retry of delivery %s", delivery.pk, exc_info=True)
    delivery_log_prune(webhook_id=webhook.pk)
    return changes.get("state", S.PENDING)


def delivery_log_prune(*, webhook_id: int) -> int:
    """Keep the newest LOCKER_WEBHOOK_LOG_SIZE finished deliveries of an endpoint."""
    old = list(
        Delivery.objects.filter(webhook_id=webhook_id)
        .exclude(state=S.PENDING)
        .order_by("-created_at", "-pk")
        .values_list("pk", flat=True)[
            settings.LOCKER_WEBHOOK_LOG_SIZE : settings.LOCKER_WEBHOOK_LOG_SIZE + 1000
        ]
    )
    return Delivery.objects.filter(pk__in=old).delete()[0] if old else 0


def deliveries_requeue_due(*, now: datetime | None = None, limit: int = 500) -> int:
    """Queue the deliveries whose attempt is overdue (a lost message, a broker outage, a worker
    killed mid-attempt); a delivery queued twice is attempted once (delivery_attempt)."""
    now = now or timezone.now()
    due = list(
        Delivery.objects.filter(state=S.PENDING, next_attempt_at__lte=now - timedelta(minutes=1))
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    _queue_deliveries(due)
    return len(due)
