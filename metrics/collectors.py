"""What /metrics measures when it is asked: a constant number of cheap reads.

Two database queries (uploads in progress: a COUNT on an indexed column; storage used: one SUM
over the users) and one broker round trip (the queue's depth), whatever the instance holds.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from django.conf import settings
from prometheus_client.core import GaugeMetricFamily

from accounts.selectors import storage_used_total
from files.selectors import uploads_in_progress_count

logger = logging.getLogger(__name__)

# kombu's Redis transport keeps a queue's messages of priority p > 0 in the list
# `<queue>\x06\x16<p>` (kombu.transport.redis: PRIORITY_STEPS, Channel.sep).
REDIS_PRIORITY_STEPS = (0, 3, 6, 9)
REDIS_PRIORITY_SEP = "\x06\x16"

_redis_clients: dict[str, object] = {}


def _redis_depth(url: str, queue: str) -> int:
    import redis

    client = _redis_clients.get(url)
    if client is None:
        timeout = settings.LOCKER_BROKER_TIMEOUT
        client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        _redis_clients[url] = client
    pipe = client.pipeline(transaction=False)
    for priority in REDIS_PRIORITY_STEPS:
        pipe.llen(queue if priority == 0 else f"{queue}{REDIS_PRIORITY_SEP}{priority}")
    return sum(pipe.execute())


def _filesystem_depth(queue: str) -> int:
    """Messages waiting in the filesystem broker's queue folder (locker/broker.py names each
    `<time>_<id>.<queue>.msg`); those a worker has claimed are elsewhere."""
    folder = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"])
    wanted = f"{queue}.msg"
    with os.scandir(folder) as entries:
        return sum(1 for entry in entries if entry.name.partition(".")[2] == wanted)


def queue_depth(queue: str) -> int | None:
    """Messages waiting in `queue`, or None when the broker cannot be asked (down, or a kind of
    broker this does not know how to count)."""
    url = settings.CELERY_BROKER_URL
    try:
        if url.startswith(("redis://", "rediss://")):
            return _redis_depth(url, queue)
        if url.startswith("filesystem://"):
            return _filesystem_depth(queue)
    except Exception as exc:  # a scrape during a broker outage still answers, without the gauge
        logger.warning("Metrics: the queue depth of %r could not be read: %s", queue, exc)
        return None
    # Other brokers (e.g. AMQP) have their own exporters; Locker does not count for them.
    return None


class ScrapeCollector:
    """Gauges computed at scrape time, in whichever process answers the scrape."""

    def collect(self):
        uploads = GaugeMetricFamily(
            "locker_uploads_in_progress",
            "Uploads in progress now (form and tus uploads whose reservation is alive).",
        )
        uploads.add_metric([], uploads_in_progress_count())
        yield uploads
        used = GaugeMetricFamily(
            "locker_storage_used_bytes", "Bytes of file content stored, all users together."
        )
        used.add_metric([], storage_used_total())
        yield used
        queue = settings.CELERY_TASK_DEFAULT_QUEUE
        depth = queue_depth(queue)
        if depth is not None:
            family = GaugeMetricFamily(
                "locker_celery_queue_depth", "Celery tasks waiting in the queue.", labels=["queue"]
            )
            family.add_metric([queue], depth)
            yield family

    def describe(self):
        return []
