from django.test import override_settings

from sharing.checks import sharing_settings_check


def ids():
    return [problem.id for problem in sharing_settings_check()]


def test_default_settings_pass():
    assert ids() == []


@override_settings(LOCKER_SHARE_DEFAULT_EXPIRY=0, LOCKER_SHARE_ALLOW_NEVER=False)
def test_never_by_default_while_never_is_refused_is_an_error():
    assert ids() == ["sharing.E001"]


@override_settings(CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}})
def test_a_per_process_cache_is_warned_about():
    assert ids() == ["sharing.W001"]
