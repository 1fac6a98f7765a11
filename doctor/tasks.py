"""The broker check's round trip: the doctor queues `doctor.echo` and waits for its mark."""

from celery import shared_task
from django.core.cache import cache

ECHO_TTL = 300  # seconds: long enough for a doctor that waits a while, short enough to vanish


def echo_key(nonce: str) -> str:
    return f"locker:doctor:echo:{nonce}"


@shared_task(name="doctor.echo", ignore_result=True)
def echo(nonce: str) -> None:
    """Does nothing but leave a mark in the shared cache, for the doctor that queued it."""
    cache.set(echo_key(nonce), "1", ECHO_TTL)
