"""Loaded as a plugin before Django starts: own data dir, plain static storage, CI rules.

The suite never runs on the operator's instance: it ignores locker.env (LOCKER_ENV_FILE empty)
and always makes a fresh data dir of its own, even when LOCKER_DATA_DIR is exported, so a test
run can neither read nor change the SQLite database, objects, keys or broker queue of `make run`.
The address of the operator's server (PORT, LOCKER_BIND, LOCKER_BASE_URL) is dropped as well:
the tests build their links from the defaults. The database the tests use is still chosen by
DATABASE_URL (pytest-django creates its own `test_…` database on that server).
"""

import atexit
import os
import shutil
import tempfile

os.environ["LOCKER_ENV_FILE"] = ""
for _name in ("PORT", "LOCKER_BIND", "LOCKER_BASE_URL", "LOCKER_STATIC_ROOT"):
    os.environ.pop(_name, None)
_data_dir = tempfile.mkdtemp(prefix="locker-test-")
os.environ["LOCKER_DATA_DIR"] = _data_dir
atexit.register(shutil.rmtree, _data_dir, ignore_errors=True)
os.environ.setdefault(
    "LOCKER_STATICFILES_BACKEND", "django.contrib.staticfiles.storage.StaticFilesStorage"
)
# Playwright's sync API runs an event loop in the test thread; the ORM calls are still sync.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def pytest_sessionfinish(session, exitstatus):
    """In CI a skipped test is a failure: it proves nothing."""
    if os.environ.get("CI", "").lower() != "true":
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if skipped:
        reporter.write_line(
            f"CI: {len(skipped)} test(s) skipped; skips are failures in CI.", red=True
        )
        session.exitstatus = 1
