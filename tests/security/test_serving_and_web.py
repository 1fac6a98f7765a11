"""SECURITY.md, "Serving content" and "Web", sent as the attacker sent them."""

import re

import pytest
from django.core import mail
from django.test import Client

from files.models import File
from sharing.models import ShareLink
from tests.fixtures.files import upload
from tests.security.conftest import store_file

pytestmark = pytest.mark.django_db

XSS = '<script>alert("x")<img src=x onerror=alert(1)>.txt'  # "/" is not a valid name


def test_gokapi_cve_2025_48494_file_names_are_escaped_on_every_page(client, alice, staff, share_of):
    """Gokapi CVE-2025-48494 / Seafile CVE-2021-30146: stored XSS through a file name on share
    pages, lists, e-mails and the admin."""
    file = store_file(alice, XSS, b"harmless")
    _share, token = share_of(file, notify=True)
    pages = [client.get(f"/s/{token}")]
    client.force_login(alice)
    pages += [client.get("/"), client.get("/shares/"), client.get("/search/?q=script")]
    client.force_login(staff)
    pages += [client.get("/admin/files/file/"), client.get(f"/admin/files/file/{file.pk}/change/")]
    for page in pages:
        assert page.status_code == 200
        body = page.content.decode()
        assert "<script>alert" not in body and "<img src=x" not in body
    Client().get(f"/s/{token}/download")
    for message in mail.outbox:
        assert "<script>" not in "".join(
            alternative for alternative, _type in getattr(message, "alternatives", [])
        )


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("drawing.svg", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'),
        ("page.html", b"<html><script>alert(1)</script></html>"),
        ("photo.png", b"<html><script>alert(1)</script></html>"),  # MIME sniffing bait
    ],
)
def test_jirafeau_cve_2022_30110_active_content_is_never_served_inline(
    alice_api, client, alice, share_of, name, data
):
    """Jirafeau CVE-2022-30110 and its bypasses (the last through MIME sniffing): SVG/HTML
    downloads are attachments with nosniff and a sandbox CSP, through the API and links."""
    created = upload(alice_api, name, data).json()
    file = File.objects.get(public_id=created["id"])
    _share, token = share_of(file)
    for response in (
        alice_api.get(f"/api/v1/files/{created['id']}/content?inline=1"),
        client.get(f"/s/{token}/download"),
        client.get(f"/s/{token}/preview"),
    ):
        if response.status_code != 200:
            assert response.status_code in (404, 415)
            continue
        assert response["Content-Disposition"].startswith("attachment")
        assert response["X-Content-Type-Options"] == "nosniff"
        assert "sandbox" in response["Content-Security-Policy"]
        assert "html" not in response["Content-Type"] and "svg" not in response["Content-Type"]


def test_django_cve_2022_36359_content_disposition_cannot_be_injected(alice, alice_api):
    """Django CVE-2022-36359: a file name that breaks out of Content-Disposition."""
    file = store_file(alice, 'evil"; filename=hack.exe; x=".txt', b"x")
    header = alice_api.get(f"/api/v1/files/{file.public_id}/content")["Content-Disposition"]
    # One quoted ASCII fallback (no quote can end it early), then the RFC 6266 `filename*`:
    # nothing the name contains becomes a parameter of its own.
    assert re.fullmatch(r'attachment; filename="[^"\\\r\n]*"; filename\*=UTF-8\'\'[^\s";]+', header)
    assert "filename*=UTF-8''evil%22%3B%20filename%3Dhack.exe" in header


# --- Web --------------------------------------------------------------------------------------


def _strip(text: str, *names: str) -> str:
    for name in names:
        text = text.replace(name, "NAME")
    return text


def test_django_cve_2024_39329_login_and_reset_answer_alike_for_unknown_users(alice):
    """Django CVE-2024-39329: account enumeration by message (timing: the same password check
    runs for unknown users, inside Django's ModelBackend)."""
    a, b = Client(), Client()
    known = a.post("/accounts/login/", {"username": "alice", "password": "wrong"})
    unknown = b.post("/accounts/login/", {"username": "nobody", "password": "wrong"})
    assert known.status_code == unknown.status_code == 200
    strip_csrf = r'name="csrfmiddlewaretoken" value="[^"]+"'
    assert re.sub(strip_csrf, "", _strip(known.content.decode(), "alice")) == re.sub(
        strip_csrf, "", _strip(unknown.content.decode(), "nobody")
    )
    known = a.post("/accounts/password_reset/", {"email": "alice@example.com"})
    unknown = b.post("/accounts/password_reset/", {"email": "nobody@example.com"})
    assert (known.status_code, known["Location"]) == (unknown.status_code, unknown["Location"])


def test_gokapi_hcff_csrf_on_login_share_creation_and_deletion_is_refused(alice, report):
    """Gokapi GHSA-hcff-qv74-7hr4: cross-site requests that log in, share or delete."""
    attacker = Client(enforce_csrf_checks=True)
    login = attacker.post("/accounts/login/", {"username": "alice", "password": "alice-password-1"})
    assert login.status_code == 403 and "_auth_user_id" not in attacker.session
    victim = Client(enforce_csrf_checks=True)
    victim.force_login(alice)
    assert victim.post("/shares/new", {"file": str(report.public_id)}).status_code == 403
    deleted = victim.delete(f"/api/v1/files/{report.public_id}/")
    assert deleted.status_code == 403
    report.refresh_from_db()
    assert report.deleted_at is None
    assert not ShareLink.objects.filter(owner=alice).exists()


def test_gokapi_hcff_get_never_changes_state(alice, report, share_of):
    """A GET (an <img src> on another site) must never revoke, delete or log out."""
    share, _token = share_of(report)
    victim = Client()
    victim.force_login(alice)
    for path in (
        f"/shares/{share.public_id}/revoke",
        f"/accounts/tokens/{1}/revoke/",
        "/accounts/logout/",
        "/accounts/2fa/disable/",
    ):
        assert victim.get(path).status_code in (302, 405), path
    share.refresh_from_db()
    assert share.revoked_at is None
    assert victim.get("/").status_code == 200  # still logged in


@pytest.mark.parametrize(
    "target",
    ["https://evil.example/", "//evil.example/", "/\\evil.example/", "https:evil.example"],
)
def test_django_cve_2018_14574_next_cannot_redirect_off_site(alice, target):
    """Django CVE-2018-14574: open redirect through `next=` after log-in."""
    client = Client()
    response = client.post(
        "/accounts/login/",
        {"username": "alice", "password": "alice-password-1", "next": target},
    )
    assert response.status_code == 302 and response["Location"] == "/"


def test_firefox_send_anonymous_uploads_are_refused_without_an_upload_link(
    anon_api, alice, alice_root
):
    """Firefox Send closed after abuse: anonymous uploads only through an upload link."""
    assert upload(anon_api, "malware.exe", b"MZ").status_code == 401
    assert anon_api.post("/api/v1/tus/", HTTP_TUS_RESUMABLE="1.0.0").status_code == 401
    bogus = Client().post("/r/" + "A" * 43 + "/upload", {"file": b"MZ"})
    assert bogus.status_code == 404
    assert not File.objects.filter(name="malware.exe").exists()
