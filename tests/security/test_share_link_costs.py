"""The attack pass on share links, as the attacker sent it: HEAD on folder ZIPs that decrypted
the whole archive, a folder page of thousands of files in one answer, a resume cookie that was a
reusable 24-hour pass, parallel password guesses slipping past the throttle, an e-mail per
download, and selection ZIPs costing two queries per item."""

import threading
import urllib.error
import urllib.request

import pytest
from django.conf import settings as django_settings

from sharing.models import ShareLink
from sharing.services import share_create
from tests.security.conftest import store_file

# --- L4: parallel wrong passwords ----------------------------------------------------------------


def _fetch(url: str, *, method: str = "GET", headers: dict | None = None) -> int:
    request = urllib.request.Request(url, method=method, headers=headers or {})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310 - our server
            response.read()
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.mark.django_db(transaction=True)
def test_forty_parallel_wrong_passwords_get_no_more_checks_than_the_limit(
    live_server, alice, settings
):
    """`throttle_v6.py`: 40 simultaneous wrong passwords, 21 checked (401) against a limit of
    10: the count was read, then the password checked, then the failure counted."""
    # The production hasher: a check takes as long as it does in production, and so does the
    # window between reading the count and counting the failure.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
    file = store_file(alice, "contract.pdf", b"%PDF-1.4 signed\n")
    _share, token = share_create(owner=alice, file=file, password="correct horse battery")
    url = f"{live_server.url}/s/{token}/download"
    racers = 40
    barrier = threading.Barrier(racers)
    statuses: list[int] = []
    lock = threading.Lock()

    def guess(number: int) -> None:
        barrier.wait()
        status = _fetch(url, headers={"X-Share-Password": f"guess {number}"})
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    limit = django_settings.LOCKER_SHARE_PASSWORD_ATTEMPTS
    assert len(statuses) == racers
    assert set(statuses) <= {401, 429}
    assert statuses.count(401) <= limit  # checked and wrong
    assert statuses.count(429) >= racers - limit  # refused without a check
    # The right password is refused too while the limit holds (it is an attempt like any).
    right = _fetch(url, headers={"X-Share-Password": "correct horse battery"})
    assert right == 429
    assert ShareLink.objects.get(token_hash=_share.token_hash).download_count == 0


@pytest.mark.django_db
def test_a_right_password_sent_with_every_download_uses_up_no_attempt(client, alice, settings):
    """The count is taken before the check; a right password gives its attempt back, so a
    program sending `X-Share-Password` with each download is never throttled."""
    file = store_file(alice, "contract.pdf", b"%PDF-1.4 signed\n")
    _share, token = share_create(owner=alice, file=file, password="correct horse battery")
    for _ in range(settings.LOCKER_SHARE_PASSWORD_ATTEMPTS * 2):
        response = client.get(f"/s/{token}/download", HTTP_X_SHARE_PASSWORD="correct horse battery")
        assert response.status_code == 200
        b"".join(response.streaming_content)
