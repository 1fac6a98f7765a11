"""locker.cache.DatabaseCache.count(): its statements are built once, not on every count (the
counters run on every API request and every link visit)."""

import pytest
from django.core.cache import caches
from django.core.management import call_command

import locker.cache as module
from locker.cache import DatabaseCache

pytestmark = pytest.mark.django_db


def test_counting_builds_each_statement_once(settings, monkeypatch):
    settings.CACHES = {
        **settings.CACHES,
        "counting": {"BACKEND": "locker.cache.DatabaseCache", "LOCATION": "locker_cache"},
    }
    call_command("createcachetable", verbosity=0)
    counter = caches["counting"]
    formatted = []
    real_format = str.format

    class Template(str):
        def format(self, *args, **kwargs):
            formatted.append(str(self))
            return real_format(self, *args, **kwargs)

    templates = ("_SELECT", "_SELECT_LOCKED", "_UPDATE_VALUE", "_UPDATE_VALUE_IF", "_UPDATE_BOTH")
    for name in (*templates, "_INSERT"):
        if hasattr(module, name):  # _SELECT_LOCKED is new
            monkeypatch.setattr(module, name, Template(getattr(module, name)))
    counter.delete("statements")
    # The first count takes the locked path (no row yet); the others compare-and-set; a counter
    # that keeps changing under us goes through the locked path every time.
    assert [counter.count("statements", 60)[0] for _ in range(5)] == [1, 2, 3, 4, 5]
    monkeypatch.setattr(DatabaseCache, "COUNT_ATTEMPTS", 0)
    assert [counter.count("statements", 60)[0] for _ in range(5)] == [6, 7, 8, 9, 10]
    assert len(formatted) == len(set(formatted)), formatted
