"""Nextcloud CVE-2021-41177 (throttling silently off without a shared store), for log-ins.

The real server with two gunicorn workers: failed log-ins counted by one worker count for the
other, so a lock-out holds whichever process answers (tests/fixtures/multiworker.py).
"""

import http.cookiejar
import re
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.fixtures.multiworker import (
    CACHES,
    pids_that_answered,
    prepare,
    server_env,
    two_worker_server,
)

LIMIT = 4
SETUP = """
from django.core.cache import cache
cache.clear()
from accounts.models import User
User.objects.create_user(username="victim", email="victim@example.com", password="right-pass-42")
"""


class Browser:
    """A plain HTTP client with a cookie jar: fetches the CSRF token like a browser would."""

    def __init__(self, base: str):
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )
        page = self.opener.open(f"{base}/accounts/login/", timeout=60).read().decode()
        self.csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)

    def login(self, password: str) -> int:
        data = urllib.parse.urlencode(
            {"username": "victim", "password": password, "csrfmiddlewaretoken": self.csrf}
        ).encode()
        request = urllib.request.Request(
            f"{self.base}/accounts/login/", data=data, headers={"Referer": self.base + "/"}
        )
        try:
            with self.opener.open(request, timeout=60) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code


@pytest.fixture(params=CACHES, ids=lambda url: "redis" if url else "dbcache")
def server(request, tmp_path):
    env = server_env(tmp_path / "data", request.param, LOCKER_LOGIN_FAILURE_LIMIT=str(LIMIT))
    prepare(env, SETUP)
    log = tmp_path / "access.log"
    with two_worker_server(env, log) as base:
        yield base, log


def test_login_lockout_holds_across_gunicorn_workers(server):
    base, log = server
    browsers = [Browser(base) for _ in range(2)]
    statuses: list[int] = []
    with ThreadPoolExecutor(max_workers=2) as pool:
        for _ in range(5):  # pairs in flight at once land on both sync workers
            statuses += list(pool.map(lambda b: b.login("wrong guess"), browsers))
    # The form answers 200 to a wrong password until the shared count reaches the limit; per
    # process counts would have let about twice the limit through.
    assert LIMIT - 1 <= statuses.count(200) <= LIMIT, statuses
    assert statuses.count(429) == len(statuses) - statuses.count(200)
    assert browsers[0].login("right-pass-42") == 429
    assert len(pids_that_answered(log)) == 2, (
        "both gunicorn workers must have answered log-in attempts"
    )
