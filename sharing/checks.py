"""System checks for sharing settings that would make links fail or limits silently not hold,
registered in SharingConfig.ready()."""

from django.conf import settings
from django.core.checks import Error, Warning

PER_PROCESS_CACHES = (
    "django.core.cache.backends.locmem.LocMemCache",
    "django.core.cache.backends.dummy.DummyCache",
)


def sharing_settings_check(app_configs=None, **kwargs):
    problems = []
    never_refused = settings.LOCKER_SHARE_MAX_EXPIRY or not settings.LOCKER_SHARE_ALLOW_NEVER
    if settings.LOCKER_SHARE_DEFAULT_EXPIRY == 0 and never_refused:
        problems.append(
            Error(
                "LOCKER_SHARE_DEFAULT_EXPIRY is 0 (never) but links that never expire are not "
                "allowed, so every link created without an expiry would be refused.",
                hint="Set LOCKER_SHARE_DEFAULT_EXPIRY to a duration such as 7d.",
                id="sharing.E001",
            )
        )
    backend = settings.CACHES.get("default", {}).get("BACKEND", "")
    if backend in PER_PROCESS_CACHES:
        problems.append(
            Warning(
                "The default cache is per process: share password and unknown-link throttles "
                "would not hold across several server processes.",
                hint="Use the database cache (LOCKER_CACHE_URL empty) or Redis.",
                id="sharing.W001",
            )
        )
    return problems
