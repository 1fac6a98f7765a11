"""The Celery app. Tasks live in each app's tasks.py and call that app's services."""

import os

from celery import Celery
from celery.signals import after_setup_logger, after_setup_task_logger

from locker import broker, metrics

# `filesystem://` and `redis://` mean our subclasses of kombu's transports in every process
# (locker/broker.py): atomic embedded broker, Redis outages survived.
broker.register()
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "locker.settings")

app = Celery("locker")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Task outcomes for /metrics, counted in the worker processes that ran them.
metrics.connect_celery_signals()


@after_setup_logger.connect
@after_setup_task_logger.connect
def _mask_secrets_in_logs(logger, **_kwargs):
    """Celery replaces the root logger's handlers with its own: they mask tokens too."""
    from locker.logmask import mask_handlers

    mask_handlers(logger)


def task_queue(name: str, args: tuple = (), kwargs: dict | None = None, **options):
    """Queue the registered task `name`, as `task.apply_async(args, kwargs, **options)` would.

    For services that queue a task of their own app: the tasks module imports the services, so
    the services name the task instead of importing it (tests/test_import_graph.py). Each app
    imports its tasks module in its AppConfig.ready(), so the name is registered in every
    process; an unknown name raises celery's NotRegistered.
    """
    return app.tasks[name].apply_async(args, kwargs, **options)
