"""Celery tasks of the webhooks app: thin, idempotent, arguments are ids."""

from celery import shared_task

from webhooks import services


@shared_task(name="webhooks.tasks.deliver")
def deliver(delivery_id: int) -> str | None:
    """One attempt; the retries are scheduled by the service (their delays are days long)."""
    return services.delivery_attempt(delivery_id=delivery_id)


@shared_task(name="webhooks.tasks.requeue_due")
def requeue_due() -> int:
    return services.deliveries_requeue_due()
