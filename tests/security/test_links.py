"""SECURITY.md, "Links, passwords, expiry": each test sends what the attacker sent."""

import re
import secrets
from datetime import timedelta

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from sharing.models import ShareLink
from sharing.services import share_update
from tests.security.conftest import make_folder, store_file

pytestmark = pytest.mark.django_db


def test_cve_2022_31118_link_tokens_are_256_bit_and_guessing_is_throttled_per_ip(
    alice_api, alice, report
):
    """Nextcloud CVE-2022-31118 / transfer.sh 6-character ids: guess tokens until one hits."""
    created = alice_api.post("/api/v1/shares/", {"file": str(report.public_id)}, format="json")
    token = created.json()["url"].rstrip("/").rsplit("/", 1)[1]
    assert re.fullmatch(r"[A-Za-z0-9_-]{43,}", token)  # secrets.token_urlsafe(32): 256 bits
    attacker = Client(REMOTE_ADDR="198.51.100.7")
    statuses = [attacker.get(f"/s/{secrets.token_urlsafe(32)}").status_code for _ in range(101)]
    assert statuses[:100] == [404] * 100 and statuses[100] == 429
    # Other addresses are not affected. The real link still works from the attacker's address
    # (256 bits are never guessed; a valid link must not be refused because of others' misses
    # from the same NAT), so what stays refused there is more guessing.
    elsewhere = Client(REMOTE_ADDR="203.0.113.9")
    assert elsewhere.get(f"/s/{secrets.token_urlsafe(32)}").status_code == 404
    assert attacker.get(f"/s/{token}").status_code == 200
    assert attacker.get(f"/s/{secrets.token_urlsafe(32)}").status_code == 429


def test_cve_2021_41177_throttle_counters_live_in_a_store_every_process_shares():
    """Nextcloud CVE-2021-41177: throttling silently off without a shared store. The counters
    use the default cache, which is the database or Redis, never per-process memory (the
    multi-worker proofs: test_multiworker_lockout.py and sharing/test_multiworker_throttle.py)."""
    backend = settings.CACHES["default"]["BACKEND"]
    assert backend in (
        "locker.cache.DatabaseCache",
        "locker.cache.RedisCache",
    )


@pytest.mark.parametrize(
    "suffix",
    ["/download", "/preview", "/thumbnail", "/folders/{folder}/download", "/files/{file}/download"],
)
def test_cve_2020_8139_side_routes_of_a_protected_share_need_the_password(
    client, alice, share_of, suffix
):
    """Nextcloud CVE-2020-8139 (/download on a protected share), CVE-2018-16467 (previews),
    Seahub's ZIP task: every route that serves share content asks for the password."""
    from sharing.selectors import share_opaque_id

    folder = make_folder(alice, "protected")
    file = store_file(alice, "secret.txt", b"the secret", folder=folder)
    share, token = share_of(folder, password="pw")
    path = suffix.format(folder=share_opaque_id(share, folder), file=share_opaque_id(share, file))
    for response in (
        client.get(f"/s/{token}{path}"),
        client.head(f"/s/{token}{path}"),
        client.get(f"/s/{token}{path}", HTTP_RANGE="bytes=0-3"),
    ):
        assert response.status_code in (401, 403, 404), (path, response.status_code)
        assert b"the secret" not in response.content
    api = client.get(f"/api/v1/files/{file.public_id}/content")
    assert api.status_code in (401, 403)


def _unlock(client, token, password):
    return client.post(f"/s/{token}", {"password": password})


def test_cve_2018_16464_an_unlock_dies_with_a_password_change(client, report, share_of):
    """Nextcloud CVE-2018-16464: the unlock outlived the password change."""
    share, token = share_of(report, password="old")
    assert _unlock(client, token, "old").status_code == 303
    assert client.get(f"/s/{token}/download").status_code == 200
    share_update(share=share, password="new")
    assert client.get(f"/s/{token}/download").status_code == 401


def test_seahub_407_an_unlock_does_not_open_another_link(client, alice, report, share_of):
    """Seahub #407: unlocking one link unlocked others (same password, same owner)."""
    _a, token_a = share_of(report, password="same")
    _b, token_b = share_of(store_file(alice, "other.txt", b"other"), password="same")
    _unlock(client, token_a, "same")
    cookie = client.cookies.get("locker_share")
    other = Client()
    other.cookies["locker_share"] = cookie.value  # replay the cookie on the other link
    assert other.get(f"/s/{token_b}/download").status_code == 401


def test_pingvin_56_expiry_is_checked_on_every_request_not_by_a_cleanup_job(
    client, report, share_of
):
    """Pingvin #56: expired links kept working until the cleanup job ran."""
    share, token = share_of(report)
    ShareLink.objects.filter(pk=share.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    for path in ("", "/download", "/preview", "/thumbnail"):
        assert client.get(f"/s/{token}{path}").status_code == 410


def test_zipline_584_archives_count_against_the_download_limit(client, alice, share_of):
    """PsiTransfer #244 / Zipline #584: a ZIP (or a protected link) bypassed the limit."""
    from sharing.selectors import share_opaque_id

    folder = make_folder(alice, "limited")
    file = store_file(alice, "a.txt", b"alpha", folder=folder)
    share, token = share_of(folder, max_downloads=1, password="pw")
    _unlock(client, token, "pw")
    opaque = share_opaque_id(share, folder)
    zip_response = client.get(f"/s/{token}/folders/{opaque}/download")
    assert zip_response.status_code == 200
    b"".join(zip_response.streaming_content)
    again = client.get(f"/s/{token}/files/{share_opaque_id(share, file)}/download")
    assert again.status_code == 410
    assert client.get(f"/s/{token}/download").status_code == 410


def test_filebrowser_3v48_no_long_lived_secret_in_a_query_string(client, report, share_of):
    """filebrowser GHSA-3v48-283x-f2w4: secrets in URLs leak through logs and Referer. The share
    password travels in a POST body (or a header), never in the query; pages send no referrer."""
    # Not a substring any token could contain (tokens are URL-safe base64: no "!").
    password = "pw!secret"
    _share, token = share_of(report, password=password)
    page = client.get(f"/s/{token}")
    assert page["Referrer-Policy"] == "no-referrer"
    assert re.search(rb'<form[^>]+method="post"', page.content)
    assert client.get(f"/s/{token}/download?password={password}").status_code == 401
    response = _unlock(client, token, password)
    assert "pw!secret" not in response["Location"] and "pw%21secret" not in response["Location"]
