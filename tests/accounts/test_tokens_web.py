from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import ApiToken, hash_secret
from accounts.services import api_token_create

pytestmark = pytest.mark.django_db

TOKENS = "/accounts/tokens/"


def test_creating_a_token_shows_its_secret_once(alice_client, alice):
    created = alice_client.post(
        TOKENS, {"name": "backup script", "expires_in_days": "", "scopes": "*"}
    )
    assert (created.status_code, created["Location"]) == (302, TOKENS)  # post/redirect/get
    response = alice_client.get(TOKENS)
    assert response.status_code == 200
    secret = response.context["new_secret"]
    page = response.content.decode()
    assert secret in page
    assert "shown only this once" in page
    token = ApiToken.objects.get(user=alice, name="backup script")
    assert token.token_hash == hash_secret(secret)
    assert token.expires_at is None
    again = alice_client.get(TOKENS).content.decode()
    assert "backup script" in again
    assert token.prefix in again
    assert secret not in again
    assert ApiToken.objects.count() == 1
    assert response["Cache-Control"].startswith("max-age=0")


def test_token_expiry_can_be_chosen(alice_client, alice):
    alice_client.post(TOKENS, {"name": "short-lived", "expires_in_days": "7", "scopes": "*"})
    token = ApiToken.objects.get(name="short-lived")
    assert timedelta(days=6, hours=23) < token.expires_at - timezone.now() <= timedelta(days=7)


def test_token_without_a_name_is_refused_next_to_the_field(alice_client):
    response = alice_client.post(TOKENS, {"name": "", "expires_in_days": ""})
    assert response.context["form"].errors["name"]
    assert response.context["new_secret"] is None
    assert not ApiToken.objects.exists()


def test_list_shows_only_my_unrevoked_tokens(alice_client, alice, bob):
    api_token_create(user=alice, name="mine")
    api_token_create(user=bob, name="bobs-token")
    revoked, _ = api_token_create(user=alice, name="old-one")
    revoked.revoked_at = timezone.now()
    revoked.save()
    page = alice_client.get(TOKENS).content.decode()
    assert "mine" in page
    assert "bobs-token" not in page
    assert "old-one" not in page


def test_revoking_a_token_stops_it_at_once(alice_client, alice):
    token, secret = api_token_create(user=alice, name="to revoke")
    api = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert api.get("/api/v1/me/").status_code == 200
    # The button's plain POST only asks (the page for browsers without the script's dialog).
    asked = alice_client.post(f"{TOKENS}{token.pk}/revoke/")
    assert asked.status_code == 200 and "lose access at once" in asked.content.decode()
    assert api.get("/api/v1/me/").status_code == 200
    response = alice_client.post(f"{TOKENS}{token.pk}/revoke/", {"confirm": "yes"})
    assert response.status_code == 302
    assert api.get("/api/v1/me/").status_code == 401


def test_revoking_someone_elses_token_answers_404(alice_client, bob):
    token, _ = api_token_create(user=bob, name="bobs")
    assert alice_client.post(f"{TOKENS}{token.pk}/revoke/").status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


def test_revoke_by_get_is_refused(alice_client, alice):
    token, _ = api_token_create(user=alice, name="kept")
    assert alice_client.get(f"{TOKENS}{token.pk}/revoke/").status_code == 405
    token.refresh_from_db()
    assert token.revoked_at is None


def test_revoke_without_csrf_token_is_refused(alice):
    token, _ = api_token_create(user=alice, name="kept")
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert client.post(f"{TOKENS}{token.pk}/revoke/").status_code == 403
    token.refresh_from_db()
    assert token.revoked_at is None


def test_token_names_are_escaped(alice_client, alice):
    api_token_create(user=alice, name='<img src=x onerror="alert(1)">')
    page = alice_client.get(TOKENS).content.decode()
    assert "<img src=x" not in page
