"""Hardened defaults: headers on every page, cookies, HSTS, sessions, deactivation."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.sessions.models import Session
from rest_framework.test import APIClient

from accounts import services
from accounts.models import User
from sharing.upload_links import upload_link_create
from tests.fixtures.users import api_client_for

pytestmark = pytest.mark.django_db
REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "path",
    ["/accounts/login/", "/", "/trash/", "/shares/", "/accounts/profile/", "/no-such-page/"],
)
def test_every_page_carries_the_strict_headers(client, alice, path):
    client.force_login(alice)
    response = client.get(path)
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert "camera=()" in response["Permissions-Policy"]
    assert response["X-Content-Type-Options"] == "nosniff"


def test_api_answers_carry_the_strict_headers(alice_api):
    response = alice_api.get("/api/v1/me/")
    assert "default-src 'self'" in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY"


def test_public_share_pages_send_no_referrer(client, report, share_of):
    _share, token = share_of(report)
    assert client.get(f"/s/{token}")["Referrer-Policy"] == "no-referrer"


def test_session_and_csrf_cookies_are_httponly_and_samesite_lax(client, alice):
    response = client.post(
        "/accounts/login/", {"username": "alice", "password": "alice-password-1"}
    )
    session = response.cookies["sessionid"]
    assert session["httponly"] and session["samesite"] == "Lax"
    login_page = client.get("/accounts/login/")
    assert login_page.cookies.get("csrftoken") is None or (
        login_page.cookies["csrftoken"]["samesite"] == "Lax"
    )


def test_https_mode_turns_on_hsts_secure_cookies_and_redirects():
    """Settings are read once from the environment: look at them in a fresh process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOCKER_HTTPS")}
    env.update(LOCKER_HTTPS="true", DJANGO_SETTINGS_MODULE="locker.settings")
    code = (
        "import json, django; django.setup(); from django.conf import settings as s;"
        "print(json.dumps([s.SECURE_HSTS_SECONDS, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE,"
        " s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_INCLUDE_SUBDOMAINS]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, check=True
    ).stdout
    hsts, session_secure, csrf_secure, redirect, subdomains = json.loads(
        out.strip().splitlines()[-1]
    )
    assert hsts >= 31536000 and session_secure and csrf_secure and redirect and subdomains


def test_login_rotates_the_session_key(client, alice):
    client.get("/accounts/login/")
    session = client.session
    session["probe"] = 1
    session.save()
    before = session.session_key
    client.post("/accounts/login/", {"username": "alice", "password": "alice-password-1"})
    assert client.session.session_key != before


def test_logout_ends_the_session_on_the_server(client, alice):
    client.force_login(alice)
    key = client.session.session_key
    client.post("/accounts/logout/")
    assert not Session.objects.filter(session_key=key).exists()


def test_share_unlock_rotates_the_session_key(client, alice, bob, report, share_of):
    _share, token = share_of(report, password="open sesame")
    client.force_login(bob)
    before = client.session.session_key
    response = client.post(f"/s/{token}", {"password": "open sesame"})
    assert response.status_code == 303
    assert client.session.session_key != before
    assert client.get("/api/v1/me/").status_code == 200  # still bob


def test_upload_link_unlock_rotates_the_session_key_too(client, alice, bob, alice_root):
    """The two kinds of link share one unlock (sharing.views.link_unlock): a fixated session id
    learns nothing from an upload link's unlock either."""
    _link, token = upload_link_create(owner=alice, folder=alice_root, password="open sesame")
    client.force_login(bob)
    before = client.session.session_key
    response = client.post(f"/r/{token}", {"password": "open sesame"})
    assert response.status_code == 303
    assert client.session.session_key != before
    assert client.get("/api/v1/me/").status_code == 200  # still bob


# --- Deactivation (Gokapi GHSA-m2hx-wjxc-9fp4) ------------------------------------------------


def test_deactivation_deletes_the_users_sessions(client, alice, staff):
    client.force_login(alice)
    other = api_client_for(None)
    other.force_login(alice)
    assert Session.objects.count() == 2
    services.user_update(user=alice, acting_user=staff, is_active=False)
    assert Session.objects.count() == 0
    assert client.get("/").status_code == 302


def test_a_stale_session_of_an_inactive_user_is_refused(client, alice):
    """Even if a session survived (deactivated in the database directly), it logs nobody in."""
    client.force_login(alice)
    User.objects.filter(pk=alice.pk).update(is_active=False)
    assert client.get("/").status_code == 302
    assert client.get("/api/v1/me/").status_code in (401, 403)


def test_deactivation_in_the_admin_ends_sessions_and_is_audited(client, alice, staff):
    victim = APIClient()
    victim.force_login(alice)
    client.force_login(staff)
    page = client.get(f"/admin/accounts/user/{alice.pk}/change/")
    form = page.context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None and not isinstance(v, list)}
    data.update(
        username="alice",
        email="alice@example.com",
        quota_bytes=alice.quota_bytes,
        date_joined_0=alice.date_joined.strftime("%Y-%m-%d"),
        date_joined_1=alice.date_joined.strftime("%H:%M:%S"),
        is_active="",
    )
    data.pop("is_active")
    data.pop("password", None)
    response = client.post(f"/admin/accounts/user/{alice.pk}/change/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    alice.refresh_from_db()
    assert not alice.is_active
    assert victim.get("/api/v1/me/").status_code in (401, 403)
    from accounts.models import AuditEvent

    assert AuditEvent.objects.filter(action="user.deactivated", subject=alice).exists()


def test_deactivated_users_tokens_share_links_and_upload_links_stop_at_once(
    client, alice, staff, report, share_of
):
    """Gokapi GHSA-m2hx-wjxc-9fp4: powers a user lost must not live on in their tokens/links."""
    api = api_client_for(alice)
    _share, share_token = share_of(report)
    from files.selectors import folder_get_root

    _link, upload_token = upload_link_create(owner=alice, folder=folder_get_root(alice))
    assert api.get("/api/v1/me/").status_code == 200
    assert client.get(f"/s/{share_token}/download").status_code == 200
    assert client.get(f"/r/{upload_token}").status_code == 200
    services.user_update(user=alice, acting_user=staff, is_active=False)
    assert api.get("/api/v1/me/").status_code == 401
    assert client.get(f"/s/{share_token}").status_code == 410
    assert client.get(f"/s/{share_token}/download").status_code == 410
    assert client.get(f"/r/{upload_token}").status_code == 410


def test_api_requests_are_throttled_in_the_shared_cache(monkeypatch, alice_api, anon_api):
    """The API's own rate limits (LOCKER_API_RATE_ANON / _USER) count in the default cache —
    the database or Redis, shared by every process — and answer 429 with a sentence."""
    from django.core.cache import cache
    from rest_framework.throttling import AnonRateThrottle, UserRateThrottle

    assert AnonRateThrottle.cache is cache and UserRateThrottle.cache is cache
    monkeypatch.setitem(UserRateThrottle.THROTTLE_RATES, "user", "3/min")
    monkeypatch.setitem(AnonRateThrottle.THROTTLE_RATES, "anon", "3/min")
    statuses = [alice_api.get("/api/v1/me/").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    response = alice_api.get("/api/v1/me/")
    assert int(response["Retry-After"]) > 0
    assert "throttled" in response.json()["detail"].lower()
    # Anonymous callers of the public routes have their own, per-address limit.
    statuses = [anon_api.get("/api/v1/schema/").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
