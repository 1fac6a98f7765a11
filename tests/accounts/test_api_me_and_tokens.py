from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiToken, hash_secret
from accounts.services import api_token_create

pytestmark = pytest.mark.django_db


def bearer(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def test_me_returns_the_callers_account(alice_api, alice):
    alice.used_bytes = 1234
    alice.save()
    response = alice_api.get("/api/v1/me/")
    assert response.status_code == 200
    assert response.json() == {
        "username": "alice",
        "email": "alice@example.com",
        "display_name": "Alice",
        "quota": alice.quota_bytes,
        "used": 1234,
        "is_staff": False,
        "theme": "system",
        "language": "",
    }


def test_me_without_credentials_answers_401_json(anon_api, db):
    response = anon_api.get("/api/v1/me/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert "detail" in response.json()


def test_me_works_with_a_session_too(client, alice):
    client.force_login(alice)
    assert client.get("/api/v1/me/").json()["username"] == "alice"


@pytest.mark.parametrize(
    "header",
    ["Bearer lk_not-a-real-token", "Bearer", "Bearer a b", "Bearer \u00e9t\u00e9"],
)
def test_bad_bearer_headers_answer_401(header, db):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get("/api/v1/me/")
    assert response.status_code == 401
    assert response.json()["detail"]


def test_expired_token_answers_401(alice):
    _, secret = api_token_create(user=alice, name="t")
    ApiToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert bearer(secret).get("/api/v1/me/").status_code == 401


def test_token_records_its_last_use(alice):
    token, secret = api_token_create(user=alice, name="t")
    bearer(secret).get("/api/v1/me/")
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_create_token_returns_the_secret_once(alice_api, alice):
    expires = (timezone.now() + timedelta(days=30)).isoformat()
    response = alice_api.post(
        "/api/v1/tokens/", {"name": "ci", "expires_at": expires}, format="json"
    )
    assert response.status_code == 201
    body = response.json()
    secret = body["token"]
    assert body["name"] == "ci"
    assert body["expires_at"] is not None
    assert secret.startswith(body["prefix"])
    assert ApiToken.objects.get(pk=body["id"]).token_hash == hash_secret(secret)
    assert bearer(secret).get("/api/v1/me/").json()["username"] == "alice"
    listed = alice_api.get("/api/v1/tokens/").json()["results"]
    assert {t["name"] for t in listed} == {"tests", "ci"}
    assert all("token" not in t and "token_hash" not in t for t in listed)


def test_create_token_in_the_past_is_refused(alice_api):
    past = (timezone.now() - timedelta(days=1)).isoformat()
    response = alice_api.post("/api/v1/tokens/", {"name": "x", "expires_at": past}, format="json")
    assert response.status_code == 400
    assert "expires_at" in response.json()["errors"]
    assert "future" in response.json()["detail"]


def test_create_token_without_a_name_is_refused(alice_api):
    response = alice_api.post("/api/v1/tokens/", {"name": "  "}, format="json")
    assert response.status_code == 400
    assert "name" in response.json()["errors"]


def test_token_list_shows_only_my_tokens(alice_api, bob):
    api_token_create(user=bob, name="bobs")
    names = {t["name"] for t in alice_api.get("/api/v1/tokens/").json()["results"]}
    assert names == {"tests"}


def test_delete_revokes_my_token(alice_api, alice):
    token, secret = api_token_create(user=alice, name="old")
    assert alice_api.delete(f"/api/v1/tokens/{token.pk}/").status_code == 204
    assert bearer(secret).get("/api/v1/me/").status_code == 401
    assert alice_api.delete(f"/api/v1/tokens/{token.pk}/").status_code == 404


def test_deleting_someone_elses_token_answers_404(alice_api, bob):
    token, secret = api_token_create(user=bob, name="bobs")
    response = alice_api.delete(f"/api/v1/tokens/{token.pk}/")
    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "detail": "Not found."}
    assert bearer(secret).get("/api/v1/me/").status_code == 200


def test_a_token_can_revoke_itself(alice):
    token, secret = api_token_create(user=alice, name="self")
    client = bearer(secret)
    assert client.delete(f"/api/v1/tokens/{token.pk}/").status_code == 204
    assert client.get("/api/v1/me/").status_code == 401
