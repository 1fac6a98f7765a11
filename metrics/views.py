"""GET /metrics: Prometheus's text format (docs/operations.md, "Metrics")."""

import os

from django.http import Http404, HttpResponse
from django.views.decorators.http import require_safe
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

from locker.metrics_setup import MULTIPROC_ENV
from metrics.access import scrape_allowed
from metrics.collectors import ScrapeCollector


def exposition() -> bytes:
    """Every process's counts (or this process's, outside multiprocess mode) and the gauges
    measured now."""
    registry = CollectorRegistry()
    registry.register(ScrapeCollector())
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest(REGISTRY) + generate_latest(registry)


@require_safe
def metrics(request):
    if not scrape_allowed(request):
        raise Http404
    return HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST)
