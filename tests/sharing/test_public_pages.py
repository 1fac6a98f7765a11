import pytest

from tests.sharing.conftest import make_folder, store_file

HOSTILE = '<script>alert("x")<img src=x onerror=alert(1)>.txt'  # "/" is not a valid name


def assert_public_headers(response):
    assert response["Referrer-Policy"] == "no-referrer"
    assert "noindex" in response["X-Robots-Tag"]
    assert response["Cache-Control"] == "private, no-store"
    assert "Content-Security-Policy" in response


@pytest.mark.parametrize("suffix", ["", "/download"])
def test_public_routes_send_the_privacy_headers(client, report, share_of, suffix):
    _share, token = share_of(report)
    response = client.get(f"/s/{token}{suffix}")
    assert response.status_code == 200
    assert_public_headers(response)


def test_share_page_csp_is_strict(client, report, share_of):
    _share, token = share_of(report)
    csp = client.get(f"/s/{token}")["Content-Security-Policy"]
    assert "default-src 'none'" in csp
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp


def test_downloads_keep_the_sandbox_csp_and_nosniff(client, report, share_of):
    _share, token = share_of(report)
    response = client.get(f"/s/{token}/download")
    assert response["Content-Security-Policy"] == "sandbox"
    assert response["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("status_case", ["unknown", "expired", "password"])
def test_error_and_password_pages_send_the_privacy_headers(client, report, share_of, status_case):
    from datetime import timedelta

    from django.utils import timezone

    if status_case == "unknown":
        path = "/s/" + "Z" * 43
    elif status_case == "expired":
        share, token = share_of(report)
        share.expires_at = timezone.now() - timedelta(minutes=1)
        share.save()
        path = f"/s/{token}"
    else:
        _share, token = share_of(report, password="pw")
        path = f"/s/{token}"
    assert_public_headers(client.get(path))


def test_hostile_file_name_is_escaped_on_the_file_page(client, alice, share_of):
    file = store_file(alice, HOSTILE, b"harmless")
    _share, token = share_of(file)
    body = client.get(f"/s/{token}").content.decode()
    assert "<script>alert" not in body
    assert "<img src=x" not in body
    assert "&lt;script&gt;" in body


def test_hostile_names_are_escaped_on_the_folder_page(client, alice, share_of):
    folder = make_folder(alice, '"><svg onload=alert(1)>')
    make_folder(alice, "<b onmouseover=alert(1)>bold", parent=folder)
    store_file(alice, HOSTILE, b"harmless", folder=folder)
    _share, token = share_of(folder)
    body = client.get(f"/s/{token}").content.decode()
    assert "<svg onload" not in body
    assert "<b onmouseover" not in body
    assert "<script>alert" not in body


def test_hostile_display_name_is_escaped(client, alice, report, share_of):
    alice.display_name = "<script>steal()</script>"
    alice.save()
    _share, token = share_of(report)
    body = client.get(f"/s/{token}").content.decode()
    assert "<script>steal" not in body


def test_html_file_is_never_served_inline(client, alice, share_of):
    file = store_file(alice, "page.html", b"<html><script>alert(1)</script></html>")
    _share, token = share_of(file)
    assert client.get(f"/s/{token}/preview").status_code == 404
    response = client.get(f"/s/{token}/download")
    assert response["Content-Disposition"].startswith("attachment")
    assert response["Content-Type"] == "application/octet-stream"


def test_page_leaks_nothing_of_the_owner_but_a_display_name(client, alice, report, share_of):
    _share, token = share_of(report)
    body = client.get(f"/s/{token}").content.decode()
    assert "alice@example.com" not in body
    assert str(report.public_id) not in body
