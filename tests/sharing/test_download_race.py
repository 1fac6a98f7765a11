"""The download limit under concurrency, against the real threaded live server."""

import threading
import urllib.error
import urllib.request

import pytest

from sharing.models import ShareAccess
from sharing.services import share_create
from tests.sharing.conftest import store_file

LIMIT = 3
RACERS = 12


def fetch(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 - our server
            response.read()
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.mark.django_db(transaction=True)
def test_n_plus_k_simultaneous_downloads_yield_exactly_n(live_server, alice):
    file = store_file(alice, "popular.bin", b"x" * 200_000)
    share, token = share_create(owner=alice, file=file, max_downloads=LIMIT)
    url = f"{live_server.url}/s/{token}/download"
    barrier = threading.Barrier(RACERS)
    statuses: list[int] = []
    lock = threading.Lock()

    def racer():
        barrier.wait()
        status = fetch(url)
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=racer) for _ in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(statuses) == [200] * LIMIT + [410] * (RACERS - LIMIT)
    share.refresh_from_db()
    assert share.download_count == LIMIT
    assert ShareAccess.objects.filter(share=share, counted=True).count() == LIMIT
