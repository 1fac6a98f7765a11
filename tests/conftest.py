import pytest
from django.core.cache import cache
from django.test import override_settings

pytest_plugins = [
    "tests.fixtures.files",
    "tests.fixtures.users",
    "tests.fixtures.browser",
    "tests.fixtures.s3",
    "tests.fixtures.smallfs",
    "tests.fixtures.outages",
]


@pytest.fixture(autouse=True, scope="session")
def _fast_password_hashing():
    """Real hashing costs ~0.3 s a password; the tests are about behaviour, not key stretching."""
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield


_DB_FIXTURES = {"db", "transactional_db", "live_server", "django_db_reset_sequences"}


@pytest.fixture(autouse=True)
def _fresh_cache(request, settings, django_db_blocker):
    """Throttle counters live in the shared cache (Redis in CI, else a database table that a
    transactional test does not roll back), so each test starts with none."""
    yield
    uses_db = request.node.get_closest_marker("django_db") or _DB_FIXTURES & set(
        request.fixturenames
    )
    if uses_db or "redis" in settings.CACHES["default"]["BACKEND"].lower():
        # This runs after the test's own database fixture is gone; the test database is not.
        with django_db_blocker.unblock():
            cache.clear()


@pytest.fixture
def eager_celery():
    """Tasks run in the test's process when queued (for e-mails, which a worker process would
    send to its own locmem outbox). Tests of the workers themselves use a real worker."""
    from locker.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous
