"""Attacks on the API's newer parts (scoped and confined tokens, Idempotency-Key, ETags, the
error body, slashless paths), sent from outside by a token holder with limited scopes or a
token confined to a folder. Each test is an attack that worked before its fix."""

import pytest
from rest_framework.test import APIClient

from accounts.models import ApiToken
from accounts.services import api_token_create
from sharing.models import ShareLink
from tests.security.conftest import make_folder, store_file

pytestmark = pytest.mark.django_db

EVERYTHING = ["files:read", "files:write", "shares:read", "shares:write", "upload-links:write"]
EVERYTHING += ["account:read", "account:write"]


def token_client(user, scopes, folder=None, name="integration") -> APIClient:
    _token, secret = api_token_create(user=user, name=name, scopes=scopes, folder=folder)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


@pytest.fixture
def locker(alice):
    invoices = make_folder(alice, "Invoices")
    hr = make_folder(alice, "HR")
    return {
        "invoices": invoices,
        "hr": hr,
        "invoice": store_file(alice, "invoice-1.pdf", b"%PDF invoice", folder=invoices),
        "secret": store_file(alice, "salaries-secret.txt", b"SALARIES", folder=hr),
        "full": token_client(alice, EVERYTHING, name="full"),
        "confined": token_client(alice, EVERYTHING, folder=invoices, name="confined"),
    }


def test_a_confined_token_replaying_another_tokens_key_gets_no_share_link_of_an_outside_file(
    locker,
):
    body = {"file": str(locker["secret"].public_id)}
    made = locker["full"].post("/api/v1/shares/", body, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    assert made.status_code == 201
    replay = locker["confined"].post(
        "/api/v1/shares/", body, format="json", HTTP_IDEMPOTENCY_KEY="k1"
    )
    assert replay.status_code == 422, replay.content
    assert made.json()["url"] not in replay.content.decode()
    assert "Idempotent-Replayed" not in replay
    assert ShareLink.objects.count() == 1


def test_a_confined_token_replaying_another_tokens_key_gets_no_unconfined_token_secret(
    alice, locker
):
    body = {"name": "backup", "scopes": ["files:read"]}
    made = locker["full"].post("/api/v1/tokens/", body, format="json", HTTP_IDEMPOTENCY_KEY="t")
    assert made.status_code == 201, made.content
    assert ApiToken.objects.get(name="backup").folder_id is None
    replay = locker["confined"].post(
        "/api/v1/tokens/", body, format="json", HTTP_IDEMPOTENCY_KEY="t"
    )
    assert replay.status_code == 422, replay.content
    assert made.json()["token"] not in replay.content.decode()


def test_a_token_with_fewer_scopes_replaying_a_key_gets_no_secret_it_could_not_make(alice):
    full = token_client(alice, EVERYTHING, name="full")
    reader = token_client(alice, ["account:write"], name="reader")
    body = {"name": "admin-ish", "scopes": ["files:write"]}
    made = full.post("/api/v1/tokens/", body, format="json", HTTP_IDEMPOTENCY_KEY="s")
    assert made.status_code == 201
    replay = reader.post("/api/v1/tokens/", body, format="json", HTTP_IDEMPOTENCY_KEY="s")
    assert made.json()["token"] not in replay.content.decode()
    assert "Idempotent-Replayed" not in replay


def test_two_tokens_with_the_same_rights_still_share_a_key(alice):
    one = token_client(alice, ["files:write"], name="one")
    two = token_client(alice, ["files:write"], name="two")
    made = one.post("/api/v1/folders/", {"name": "A"}, format="json", HTTP_IDEMPOTENCY_KEY="f")
    again = two.post("/api/v1/folders/", {"name": "A"}, format="json", HTTP_IDEMPOTENCY_KEY="f")
    assert made.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == made.json()


def test_a_confined_token_cannot_change_the_accounts_password_nor_guess_it(alice, locker):
    """The password guards the whole account: a token confined to one folder may neither
    change it (and revoke every token) nor use the route to guess it and lock the owner out."""
    for current in ("wrong-guess", "alice-password-1"):
        body = {"current_password": current, "new_password": "A-much-longer-new-pass-42"}
        response = locker["confined"].post("/api/v1/me/password/", body, format="json")
        assert response.status_code == 403, response.content
        assert "confined to a folder" in response.json()["detail"]
    alice.refresh_from_db()
    assert alice.check_password("alice-password-1")
    assert locker["full"].get("/api/v1/files/").status_code == 200


def test_a_token_that_cannot_read_learns_no_ids_from_a_name_conflict(alice, locker):
    """An upload-only token (files:write, no files:read) that guesses a taken name hears 409,
    but not the id of what holds it: with that id it could trash or move what it cannot see."""
    dropbox = token_client(alice, ["files:write"], name="dropbox")
    response = dropbox.post("/api/v1/folders/", {"name": "hr"}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "name_conflict"
    assert "existing" not in response.json()
    assert str(locker["hr"].public_id) not in response.content.decode()
    # A token that may read still hears which item it is (to find what a retry already made).
    response = locker["full"].post("/api/v1/folders/", {"name": "hr"}, format="json")
    assert response.json()["existing"]["id"] == str(locker["hr"].public_id)


def test_a_token_that_cannot_read_files_cannot_publish_one_by_a_share_link(alice, locker):
    """shares:write alone made a public link to any file whose id the token held (from a
    webhook, a shared id list): reading through the link what files:read would refuse."""
    sharer = token_client(alice, ["shares:write", "shares:read"], name="sharer")
    for body in (
        {"file": str(locker["secret"].public_id)},
        {"folder": str(locker["hr"].public_id)},
        {"files": [str(locker["secret"].public_id)]},
    ):
        response = sharer.post("/api/v1/shares/", body, format="json")
        assert response.status_code == 403, response.content
        assert "files:read" in response.json()["detail"]
    assert not ShareLink.objects.exists()
    reader = token_client(alice, ["shares:write", "files:read"], name="reader")
    body = {"file": str(locker["secret"].public_id)}
    assert reader.post("/api/v1/shares/", body, format="json").status_code == 201


HOOK = "https://93.184.215.14/hook"


def test_a_staff_token_without_the_admin_scope_cannot_hear_every_users_events(staff):
    """A staff member's token limited to webhooks:read/write made (or redirected) a webhook of
    scope `instance`: every user's file names and downloads, without the `admin` scope."""
    from webhooks.services import webhook_create

    hooks = token_client(staff, ["webhooks:read", "webhooks:write"], name="hooks")
    body = {"url": HOOK, "events": ["file.uploaded"], "scope": "instance"}
    response = hooks.post("/api/v1/webhooks/", body, format="json")
    assert response.status_code == 403, response.content
    assert "admin" in response.json()["detail"]
    mine = hooks.post("/api/v1/webhooks/", {**body, "scope": "mine"}, format="json").json()
    response = hooks.patch(f"/api/v1/webhooks/{mine['id']}/", {"scope": "instance"}, format="json")
    assert response.status_code == 403, response.content
    everyone, _secret = webhook_create(
        owner=staff, url=HOOK, events=["file.uploaded"], scope="instance"
    )
    url = f"/api/v1/webhooks/{everyone.public_id}/"
    elsewhere = {"url": "https://93.184.215.15/stolen"}
    assert hooks.patch(url, elsewhere, format="json").status_code == 403
    assert hooks.get(f"{url}deliveries/").status_code == 403
    admin = token_client(staff, ["webhooks:read", "webhooks:write", "admin"], name="admin")
    assert admin.patch(url, elsewhere, format="json").status_code == 200
    assert admin.post("/api/v1/webhooks/", body, format="json").status_code == 201


def test_another_session_without_a_fresh_password_gets_no_token_secret_by_replaying_a_key(alice):
    """Making a token from a browser session needs the password typed lately; a second session
    of the user (a stolen cookie) that sends the same key and body must not get the token the
    first session made, without the password."""
    import time

    from accounts.twofactor import PASSWORD_AT_KEY

    fresh, stolen = APIClient(), APIClient()
    for client in (fresh, stolen):
        client.force_login(alice)
    session = fresh.session
    session[PASSWORD_AT_KEY] = time.time()
    session.save()
    body = {"name": "laptop", "scopes": ["files:read"]}
    made = fresh.post("/api/v1/tokens/", body, format="json", HTTP_IDEMPOTENCY_KEY="1")
    assert made.status_code == 201, made.content
    replay = stolen.post("/api/v1/tokens/", body, format="json", HTTP_IDEMPOTENCY_KEY="1")
    assert made.json()["token"] not in replay.content.decode()
    assert replay.status_code in (403, 422), replay.content
    # The session that made it still gets its answer again.
    again = fresh.post("/api/v1/tokens/", body, format="json", HTTP_IDEMPOTENCY_KEY="1")
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true"
