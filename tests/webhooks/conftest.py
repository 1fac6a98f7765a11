import pytest

from tests.webhooks.receiver import Receiver

# Real Celery workers for the attacks of test_attacks.py (a worker SIGKILLed mid-delivery).
from tests.workers.conftest import start_worker, worker_logs  # noqa: F401 - fixtures


@pytest.fixture
def receiver():
    with Receiver() as server:
        yield server


@pytest.fixture
def allow_private(settings):
    """The receiver listens on 127.0.0.1: private addresses are allowed (and http)."""
    settings.LOCKER_WEBHOOK_ALLOW_PRIVATE = True
    return settings
