"""Celery tasks of the API frame: thin wrappers around its functions."""

from celery import shared_task

from locker.idempotency import idempotent_requests_prune


@shared_task(autoretry_for=(Exception,), retry_backoff=True, max_retries=5)
def prune_idempotency_keys() -> int:
    return idempotent_requests_prune()
