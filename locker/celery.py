"""The Celery app. Tasks live in each app's tasks.py and call that app's services."""

import os

from celery import Celery

from locker import broker

# `filesystem://` means our safer subclass of kombu's transport in every process (locker/broker.py).
broker.register()
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "locker.settings")

app = Celery("locker")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
