"""The Celery app. Tasks live in each app's tasks.py and call that app's services."""

import os

from celery import Celery
from celery.signals import after_setup_logger, after_setup_task_logger

from locker import broker

# `filesystem://` and `redis://` mean our subclasses of kombu's transports in every process
# (locker/broker.py): atomic embedded broker, Redis outages survived.
broker.register()
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "locker.settings")

app = Celery("locker")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@after_setup_logger.connect
@after_setup_task_logger.connect
def _mask_secrets_in_logs(logger, **_kwargs):
    """Celery replaces the root logger's handlers with its own: they mask tokens too."""
    from locker.logmask import mask_handlers

    mask_handlers(logger)
