from locker.celery import app as celery_app

# The release this checkout is (CHANGELOG.md); /healthz and the page footer (staff) show it.
__version__ = "0.2.0"

__all__ = ["__version__", "celery_app"]
