"""The API's rate limits hold against parallel requests, and anonymous requests are limited too.

Before: DRF's throttle read a request history from the cache, appended and wrote it back, so
parallel requests all read the same history and all passed (1,000 requests on 16 threads:
1,000 answers against a limit of 300/min); and authentication failed (401) before throttles ran,
so the anonymous limit never applied to an anonymous request or a guessed token.

Against the real server as `make run` starts it (2 gthread workers, 8 threads each), with the
database cache and, when the run is configured with it, Redis.
"""

import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.fixtures.multiworker import CACHES, make_run_web_server, prepare, server_env

USER_LIMIT = 100
ANON_LIMIT = 10
SETUP = """
from django.core.cache import cache
cache.clear()  # a shared Redis may hold counters of an earlier run
from accounts.models import User
from accounts.services import api_token_create
user = User.objects.create_user(username="alice", email="alice@example.com", password="x-1-y-2")
print("TOKEN=" + api_token_create(user=user, name="tests")[1])
"""


def _get(url: str, token: str | None) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def _parallel(url: str, tokens: list[str | None]) -> list[int]:
    with ThreadPoolExecutor(max_workers=16) as pool:
        return list(pool.map(lambda token: _get(url, token), tokens))


@pytest.fixture(params=CACHES, ids=lambda url: "redis" if url else "dbcache")
def server(request, tmp_path):
    env = server_env(
        tmp_path / "data",
        request.param,
        LOCKER_API_RATE_USER=f"{USER_LIMIT}/hour",
        LOCKER_API_RATE_ANON=f"{ANON_LIMIT}/hour",
    )
    token = prepare(env, SETUP).split("TOKEN=", 1)[1].strip()
    with make_run_web_server(env, tmp_path / "server.log") as web:
        yield web.base, token


def test_parallel_requests_get_exactly_the_user_limit(server):
    base, token = server
    statuses = _parallel(f"{base}/api/v1/me/", [token] * (3 * USER_LIMIT))
    assert statuses.count(200) == USER_LIMIT, statuses
    assert statuses.count(429) == 2 * USER_LIMIT, statuses


def test_anonymous_requests_are_limited_before_their_401(server):
    base, _token = server
    statuses = _parallel(f"{base}/api/v1/me/", [None] * (3 * ANON_LIMIT))
    assert statuses.count(401) == ANON_LIMIT, statuses
    assert statuses.count(429) == 2 * ANON_LIMIT, statuses


def test_guessed_tokens_are_limited(server):
    base, token = server
    guesses = [f"lk_{'x' * 40}{n}" for n in range(3 * ANON_LIMIT)]
    statuses = _parallel(f"{base}/api/v1/files/", guesses)
    assert statuses.count(401) == ANON_LIMIT, statuses
    assert statuses.count(429) == 2 * ANON_LIMIT, statuses
    # The address is refused, not the account: the right token still works.
    assert _get(f"{base}/api/v1/me/", token) == 200


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("backend", CACHES, ids=lambda url: "redis" if url else "dbcache")
def test_the_shared_caches_count_parallel_takes_one_by_one(backend, settings):
    """The primitive under every limit: 16 threads counting at once each get their own count
    (on the test database: SQLite here, PostgreSQL in CI; and Redis when configured)."""
    from django.core.cache import caches
    from django.core.management import call_command
    from django.db import connections

    if backend:
        counting = {"BACKEND": "locker.cache.RedisCache", "LOCATION": backend}
    else:
        counting = {"BACKEND": "locker.cache.DatabaseCache", "LOCATION": "locker_cache"}
    settings.CACHES = {**settings.CACHES, "counting": counting}
    if not backend:
        call_command("createcachetable", verbosity=0)

    counter = caches["counting"]
    counter.delete("parallel-takes")

    def take(_n):
        try:
            return counter.count("parallel-takes", 60)[0]
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=16) as pool:
        counts = list(pool.map(take, range(320)))
    assert sorted(counts) == list(range(1, 321))
    assert counter.count_peek("parallel-takes")[0] == 320
    counter.delete("parallel-takes")
