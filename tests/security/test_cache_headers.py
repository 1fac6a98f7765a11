"""No cache keeps a user's pages or API answers (before: only `Vary: Cookie`, so a browser's
back button or a careless shared proxy could show alice's file list after she logged out).
Responses that may be cached say so themselves, and keep what they say."""

import pytest

from tests.security.conftest import share_of, store_file  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db


def _no_store(response) -> bool:
    """`private, no-store`, or what Django's never_cache says (it includes both)."""
    directives = {part.strip() for part in response.get("Cache-Control", "").split(",")}
    return {"private", "no-store"} <= directives


@pytest.mark.parametrize("path", ["/", "/shares/", "/trash/", "/accounts/profile/"])
def test_private_pages_are_never_stored(client, alice, path):
    client.force_login(alice)
    response = client.get(path)
    assert response.status_code == 200
    assert _no_store(response), response.get("Cache-Control")


@pytest.mark.parametrize("path", ["/api/v1/me/", "/api/v1/files/", "/api/v1/shares/"])
def test_api_answers_are_never_stored(alice_api, path):
    response = alice_api.get(path)
    assert response.status_code == 200
    assert response["Cache-Control"] == "private, no-store"


def test_api_errors_are_never_stored(anon_api):
    response = anon_api.get("/api/v1/me/")
    assert response.status_code == 401
    assert response["Cache-Control"] == "private, no-store"


def test_log_in_page_with_its_csrf_token_is_never_stored(client):
    response = client.get("/accounts/login/")
    assert response.status_code == 200
    assert _no_store(response), response.get("Cache-Control")


def test_public_share_page_is_private_and_not_stored(client, alice, share_of):  # noqa: F811
    file = store_file(alice, "a.txt", b"hello")
    _share, token = share_of(file)
    response = client.get(f"/s/{token}")
    assert response.status_code == 200
    assert response["Cache-Control"] == "private, no-store"


def test_a_download_keeps_its_own_cache_rule(alice_api, alice):
    file = store_file(alice, "a.txt", b"hello")
    response = alice_api.get(f"/api/v1/files/{file.public_id}/content")
    assert response.status_code == 200
    assert response["Cache-Control"] == "private, no-cache"
