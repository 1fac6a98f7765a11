"""Reads of the webhooks app: every lookup is scoped to the caller (another user's endpoint is a
404, never a 403)."""

import uuid

from django.db.models import QuerySet

from webhooks.models import Delivery, Webhook


def webhook_list(*, user) -> QuerySet[Webhook]:
    return Webhook.objects.filter(owner=user)


def webhook_get(*, user, public_id) -> Webhook | None:
    try:
        public_id = uuid.UUID(str(public_id))
    except ValueError:
        return None  # a malformed id names nothing
    return webhook_list(user=user).filter(public_id=public_id).first()


def delivery_log(*, webhook: Webhook) -> QuerySet[Delivery]:
    """The endpoint's newest deliveries (at most LOCKER_WEBHOOK_LOG_SIZE are kept)."""
    return Delivery.objects.filter(webhook=webhook).order_by("-created_at", "-pk")
