"""Token scopes over the whole route inventory (accounts.scopes, accounts.api.permissions).

Table-driven over every API operation of tests/security/test_route_inventory.py: a token that
carries exactly the scopes an operation declares is let through to it, and a token that carries
every other scope is refused with 403 naming the missing one. Browser sessions are not limited.
"""

import pytest
from rest_framework.test import APIClient

from accounts.scopes import SCOPES
from accounts.services import api_token_create
from tests.security.test_route_inventory import (  # noqa: F401 - the world fixture
    ROUTES,
    api_operations,
    required_scopes_for,
    send,
    url_for,
    world,
)

pytestmark = pytest.mark.django_db


def token_client(user, scopes, *, folder=None) -> APIClient:
    _token, secret = api_token_create(user=user, name="scoped", scopes=scopes, folder=folder)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def detail_of(response) -> str:
    if not response.get("Content-Type", "").startswith("application/json"):
        return ""
    try:
        return str(response.json().get("detail", ""))
    except ValueError:  # an empty body (204)
        return ""


def refused_for_scope(response) -> bool:
    detail = detail_of(response)
    return response.status_code == 403 and ("lacks the" in detail or "API tokens" in detail)


def caller_for(route: str, w: dict):
    return w["staff"] if ROUTES[route]["kind"] == "staff" else w["alice"]


@pytest.fixture
def staff_world(world, staff):  # noqa: F811 - the fixture imported above
    return {**world, "staff": staff}


def test_a_token_without_an_operations_scope_is_refused_with_the_scope_named(staff_world):
    checked = 0
    for route, pattern, method in api_operations():
        required = required_scopes_for(pattern, method)
        if not required:
            continue
        user = caller_for(route, staff_world)
        for scope in required:
            others = [name for name in SCOPES if name != scope]
            if not user.is_staff:
                others.remove("admin")
            response = send(
                token_client(user, others), method, url_for(route, pattern, staff_world)
            )
            assert response.status_code == 403, f"{method} {route} without {scope}"
            if method != "HEAD":  # no body
                assert detail_of(response) == f"This token lacks the “{scope}” scope.", route
            checked += 1
    assert checked > 40


def test_a_token_with_exactly_an_operations_scopes_is_let_through(staff_world):
    checked = 0
    for route, pattern, method in api_operations():
        required = required_scopes_for(pattern, method)
        user = caller_for(route, staff_world)
        # An operation for any token is tried with the narrowest token there is.
        scopes = list(required) or ["account:read"]
        response = send(token_client(user, scopes), method, url_for(route, pattern, staff_world))
        assert not refused_for_scope(response), f"{method} {route} with {scopes}: {response}"
        assert response.status_code < 500, f"{method} {route}"
        checked += 1
    assert checked > 40


def test_sessions_are_not_limited_by_scopes(alice):
    alice_client = APIClient()
    alice_client.force_login(alice)
    assert alice_client.get("/api/v1/files/").status_code == 200
    assert alice_client.get("/api/v1/me/").status_code == 200
    assert alice_client.get("/api/v1/shares/").status_code == 200


def test_a_batch_move_or_delete_needs_files_write_but_a_zip_only_files_read(alice):
    from tests.security.conftest import store_file

    file = store_file(alice, "report.txt", b"numbers")
    reader = token_client(alice, ["files:read"])
    for action in ("move", "delete"):
        body = {"action": action, "files": [str(file.public_id)]}
        response = reader.post("/api/v1/files/batch/", body, format="json")
        assert response.status_code == 403
        assert response.json()["detail"] == "This token lacks the “files:write” scope."
    body = {"action": "zip", "files": [str(file.public_id)]}
    response = reader.post("/api/v1/files/batch/", body, format="json")
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    file.refresh_from_db()
    assert file.deleted_at is None


def test_the_admin_scope_lapses_when_its_owner_is_no_longer_staff(staff):
    client = token_client(staff, ["admin"])
    assert client.get("/api/v1/users/").status_code == 200
    staff.is_staff = False
    staff.save(update_fields=["is_staff"])
    response = client.get("/api/v1/users/")
    assert response.status_code == 403


def test_everyones_audit_events_need_the_admin_scope(staff):
    client = token_client(staff, ["account:read"])
    assert client.get("/api/v1/audit/").status_code == 200
    response = client.get("/api/v1/audit/?scope=all")
    assert response.status_code == 403
    assert response.json()["detail"] == "This token lacks the “admin” scope."
    assert (
        token_client(staff, ["account:read", "admin"]).get("/api/v1/audit/?scope=all").status_code
        == 200
    )


def test_drfs_options_description_is_open_to_any_token(alice):
    response = token_client(alice, ["account:read"]).options("/api/v1/files/")
    assert response.status_code == 200
