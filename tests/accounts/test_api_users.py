import re

import pytest
from django.core import mail
from rest_framework.test import APIClient

from accounts.models import Invitation, User
from accounts.services import api_token_create

pytestmark = pytest.mark.django_db

USERS = "/api/v1/users/"


def test_non_staff_get_403_json_on_every_user_endpoint(alice_api, bob):
    for method, path, data in [
        ("get", USERS, None),
        ("post", USERS, {"username": "x", "email": "x@example.com"}),
        ("get", f"{USERS}{bob.pk}/", None),
        ("patch", f"{USERS}{bob.pk}/", {"is_staff": True}),
    ]:
        response = getattr(alice_api, method)(path, data, format="json")
        assert response.status_code == 403, (method, path)
        assert response.json()["detail"]
    assert not User.objects.get(pk=bob.pk).is_staff


def test_anonymous_gets_401(anon_api, db):
    assert anon_api.get(USERS).status_code == 401


def test_staff_lists_users(staff_api, alice, bob):
    body = staff_api.get(USERS).json()
    assert len(body["results"]) == 3
    assert [u["username"] for u in body["results"]] == ["alice", "bob", "root"]
    assert "password" not in body["results"][0]


def test_staff_creates_a_user_with_a_password(staff_api):
    response = staff_api.post(
        USERS,
        {"username": "dora", "email": "dora@example.com", "password": "dora's long secret"},
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["has_password"] is True
    assert "password" not in response.json()
    assert User.objects.get(username="dora").check_password("dora's long secret")
    assert not mail.outbox


def test_staff_creating_a_user_without_password_sends_an_invitation(staff_api):
    response = staff_api.post(
        USERS, {"username": "dora", "email": "dora@example.com"}, format="json"
    )
    assert response.status_code == 201
    assert response.json()["has_password"] is False
    assert mail.outbox[0].to == ["dora@example.com"]
    assert re.search(r"/accounts/invitation/\S+/", mail.outbox[0].body)
    assert Invitation.objects.filter(user__username="dora").count() == 1


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"username": "ALICE", "email": "new@example.com"}, "username"),
        ({"username": "new", "email": "Alice@Example.com"}, "email"),
        ({"username": "new", "email": "not-an-address"}, "email"),
        ({"username": "bad name!", "email": "new@example.com"}, "username"),
        ({"username": "new", "email": "new@example.com", "password": "123"}, "password"),
    ],
)
def test_invalid_new_users_are_refused_with_field_errors(staff_api, alice, data, field):
    response = staff_api.post(USERS, data, format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert response.json()["detail"]
    assert not User.objects.filter(email="new@example.com").exists()


@pytest.mark.parametrize(
    ("quota", "expected"), [(0, 0), (1024, 1024), ("10G", 10 * 1024**3), ("512M", 512 * 1024**2)]
)
def test_staff_sets_quota_in_bytes_or_as_a_size(staff_api, alice, quota, expected):
    response = staff_api.patch(f"{USERS}{alice.pk}/", {"quota": quota}, format="json")
    assert response.status_code == 200
    assert response.json()["quota"] == expected
    alice.refresh_from_db()
    assert alice.quota_bytes == expected


@pytest.mark.parametrize("quota", [-1, "lots", True, 1.5, None])
def test_bad_quotas_are_refused(staff_api, alice, quota):
    response = staff_api.patch(f"{USERS}{alice.pk}/", {"quota": quota}, format="json")
    assert response.status_code == 400
    assert "quota" in response.json()["errors"]


def test_staff_grants_and_removes_staff(staff_api, alice):
    staff_api.patch(f"{USERS}{alice.pk}/", {"is_staff": True}, format="json")
    alice.refresh_from_db()
    assert alice.is_staff
    staff_api.patch(f"{USERS}{alice.pk}/", {"is_staff": False}, format="json")
    alice.refresh_from_db()
    assert not alice.is_staff


def test_deactivating_a_user_stops_their_tokens_at_once(staff_api, alice):
    _, secret = api_token_create(user=alice, name="laptop")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert client.get("/api/v1/me/").status_code == 200
    response = staff_api.patch(f"{USERS}{alice.pk}/", {"is_active": False}, format="json")
    assert response.status_code == 200
    assert response.json()["is_active"] is False
    assert client.get("/api/v1/me/").status_code == 401
    staff_api.patch(f"{USERS}{alice.pk}/", {"is_active": True}, format="json")
    assert client.get("/api/v1/me/").status_code == 200


def test_a_token_loses_staff_powers_with_its_user(staff, alice):
    _, secret = api_token_create(user=staff, name="admin script")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert client.get(USERS).status_code == 200
    User.objects.filter(pk=staff.pk).update(is_staff=False)
    assert client.get(USERS).status_code == 403


def test_staff_cannot_deactivate_themselves(staff_api, staff):
    response = staff_api.patch(f"{USERS}{staff.pk}/", {"is_active": False}, format="json")
    assert response.status_code == 400
    assert "is_active" in response.json()["errors"]
    staff.refresh_from_db()
    assert staff.is_active


def test_put_is_not_allowed(staff_api, alice):
    response = staff_api.put(f"{USERS}{alice.pk}/", {"is_staff": True}, format="json")
    assert response.status_code == 405


def test_unknown_user_answers_404(staff_api):
    assert staff_api.get(f"{USERS}999999/").status_code == 404


def test_staff_resends_an_invitation_through_the_api(staff_api):
    staff_api.post(USERS, {"username": "dora", "email": "dora@example.com"}, format="json")
    user = User.objects.get(username="dora")
    response = staff_api.post(f"{USERS}{user.pk}/invitation/")
    assert response.status_code == 200
    assert len(mail.outbox) == 2
    assert Invitation.objects.filter(user=user).count() == 2


def test_no_invitation_for_a_user_who_has_a_password(staff_api, alice):
    response = staff_api.post(f"{USERS}{alice.pk}/invitation/")
    assert response.status_code == 400
    assert "already chosen a password" in response.json()["detail"]
    assert not mail.outbox
