"""The password throttle holds across gunicorn worker processes (a real multi-worker server).

With a per-process cache each worker would grant its own allowance; with the shared cache
(the database cache by default) the workers share one counter.
"""

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

LIMIT = 5
SETUP = """
from django.core.cache import cache
cache.clear()  # a fresh database reuses ids, so counters left in a shared Redis must go
from storage.writer import content_writer
from files.services import NewFileContent, files_create
from accounts.models import User
from sharing.services import share_create
user = User.objects.create_user(username="owner", email="owner@example.com", password="x")
writer = content_writer(); writer.write(b"secret bytes"); blob = writer.finish()
(file,) = files_create(user=user, folder=None, contents=[NewFileContent(
    name="s.txt", blob=blob, size=writer.size, sha256=writer.sha256.hexdigest(),
    content_type="text/plain")])
share, token = share_create(owner=user, file=file, password="right password")
print("TOKEN=" + token)
"""


def _post_password(url: str, password: str) -> int:
    """The password form, posted as a plain client would (no cookies kept between attempts)."""
    data = urllib.parse.urlencode({"password": password}).encode()
    request = urllib.request.Request(url, data=data)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.fixture(params=CACHES, ids=lambda url: "redis" if url else "dbcache")
def multiworker_server(request, tmp_path):
    env = server_env(tmp_path / "data", request.param, LOCKER_SHARE_PASSWORD_ATTEMPTS=str(LIMIT))
    token = prepare(env, SETUP).split("TOKEN=", 1)[1].strip()
    log = tmp_path / "access.log"
    with two_worker_server(env, log) as base:
        yield base, token, log


def test_password_throttle_holds_across_gunicorn_workers(multiworker_server):
    base, token, log = multiworker_server
    url = f"{base}/s/{token}"
    statuses: list[int] = []
    with ThreadPoolExecutor(max_workers=2) as pool:
        for _ in range(8):  # pairs in flight at once land on both sync workers
            statuses += list(pool.map(lambda _i: _post_password(url, "wrong"), range(2)))
    refused = statuses.count(403)  # wrong password, checked
    throttled = statuses.count(429)
    # One shared counter: the limit, plus at most the one attempt that raced the last check.
    # Per-process counters would have let about twice the limit through.
    assert LIMIT <= refused <= LIMIT + 1, statuses
    assert throttled == len(statuses) - refused
    assert _post_password(url, "right password") == 429
    assert len(pids_that_answered(log)) == 2, (
        "both gunicorn workers must have answered password attempts"
    )
