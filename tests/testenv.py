"""Loaded as a plugin before Django starts: own data dir, plain static storage, CI rules."""

import atexit
import os
import shutil
import tempfile

if "LOCKER_DATA_DIR" not in os.environ:
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
