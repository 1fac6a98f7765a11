"""Choosing a token's scopes and folder: the API, the web page, `createapitoken --scope`; the
re-authentication rule (a token never mints a token with more rights than its own); tokens
made before scopes keep every right."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from rest_framework.test import APIClient

from accounts.models import ApiToken
from accounts.services import api_token_create
from tests.fixtures.files import make_folder
from tests.fixtures.users import api_client_for

pytestmark = pytest.mark.django_db

TOKENS = "/accounts/tokens/"


def client_with(user, scopes, folder=None) -> APIClient:
    _token, secret = api_token_create(user=user, name="t", scopes=scopes, folder=folder)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def run(*args) -> list[str]:
    out = StringIO()
    call_command("createapitoken", *args, stdout=out)
    return out.getvalue().splitlines()


# --- createapitoken ---------------------------------------------------------------------------


def test_createapitoken_takes_repeated_scopes(alice):
    secret = run("alice", "--name", "reader", "--scope", "files:read", "--scope", "account:read")[
        -1
    ]
    assert ApiToken.objects.get(name="reader").scopes == ["files:read", "account:read"]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert client.get("/api/v1/files/").status_code == 200
    response = client.get("/api/v1/shares/")
    assert response.status_code == 403
    assert response.json()["detail"] == "This token lacks the “shares:read” scope."


def test_createapitoken_without_scope_makes_a_full_token(alice):
    run("alice", "--name", "full")
    assert ApiToken.objects.get(name="full").scopes == ["*"]


def test_createapitoken_confines_to_a_folder_path(alice):
    invoices = make_folder(alice, "Invoices")
    lines = run("alice", "--scope", "files:write", "--folder", "invoices")
    assert ApiToken.objects.get().folder == invoices
    assert "only inside" in lines[0]
    with pytest.raises(CommandError, match="no folder"):
        run("alice", "--folder", "Nowhere/deep")


def test_createapitoken_refuses_admin_to_non_staff_and_unknown_scopes(alice, staff):
    with pytest.raises(CommandError, match="Only staff accounts"):
        run("alice", "--scope", "admin")
    with pytest.raises(CommandError):
        run("alice", "--scope", "files:everything")
    assert not ApiToken.objects.filter(user=alice).exists()
    run("root", "--scope", "admin")
    assert ApiToken.objects.get(user=staff).scopes == ["admin"]


# --- the API ----------------------------------------------------------------------------------


def test_the_api_creates_a_token_with_the_scopes_asked(alice_api):
    body = {"name": "ci", "scopes": ["files:read", "shares:read"]}
    response = alice_api.post("/api/v1/tokens/", body, format="json")
    assert response.status_code == 201
    assert response.json()["scopes"] == ["files:read", "shares:read"]
    assert response.json()["folder"] is None
    from accounts.models import AuditEvent

    event = AuditEvent.objects.filter(action="token.created").first()
    assert event.extra["scopes"] == ["files:read", "shares:read"]
    listed = alice_api.get("/api/v1/tokens/").json()["results"]
    assert {tuple(row["scopes"]) for row in listed} == {("*",), ("files:read", "shares:read")}


def test_the_api_refuses_admin_to_non_staff_with_a_clear_message(alice_api):
    response = alice_api.post("/api/v1/tokens/", {"name": "x", "scopes": ["admin"]}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"]["scopes"] == [
        "Only staff accounts can give a token the “admin” scope."
    ]


def test_the_api_refuses_unknown_and_empty_scopes(alice_api):
    for scopes in (["files:all"], []):
        body = {"name": "x", "scopes": scopes}
        assert alice_api.post("/api/v1/tokens/", body, format="json").status_code == 400


def test_a_token_with_account_read_only_cannot_mint_a_full_token(alice):
    reader = client_with(alice, ["account:read"])
    response = reader.post("/api/v1/tokens/", {"name": "full", "scopes": ["*"]}, format="json")
    assert response.status_code == 403
    assert response.json()["detail"] == "This token lacks the “account:write” scope."
    assert ApiToken.objects.count() == 1


def test_a_token_cannot_mint_a_token_with_more_scopes_than_its_own(alice):
    minter = client_with(alice, ["account:write", "files:read"])
    for scopes in (["*"], ["files:write"], ["files:read", "shares:read"]):
        body = {"name": "more", "scopes": scopes}
        response = minter.post("/api/v1/tokens/", body, format="json")
        assert response.status_code == 400, scopes
        assert "more rights than its own" in response.json()["detail"]
    response = minter.post("/api/v1/tokens/", {"name": "same"}, format="json")
    assert response.status_code == 201
    assert response.json()["scopes"] == ["files:read", "account:write"]
    response = minter.post("/api/v1/tokens/", {"name": "less", "scopes": ["files:read"]})
    assert response.status_code == 201


def test_a_session_still_needs_a_recent_password_to_create_a_token(alice):
    session = APIClient()
    session.force_login(alice)
    response = session.post("/api/v1/tokens/", {"name": "x", "scopes": ["files:read"]})
    assert response.status_code == 403
    assert "password again" in response.json()["detail"]


# --- the web page -----------------------------------------------------------------------------


def test_the_web_page_creates_a_scoped_token_confined_to_a_folder(alice_client, alice):
    make_folder(alice, "Invoices")
    response = alice_client.post(
        TOKENS,
        {
            "name": "invoices bot",
            "expires_in_days": "",
            "scopes": ["files:read", "files:write"],
            "folder": "Invoices",
        },
    )
    assert response.status_code == 302
    token = ApiToken.objects.get(name="invoices bot")
    assert token.scopes == ["files:read", "files:write"]
    assert token.folder.name == "Invoices"
    page = alice_client.get(TOKENS).content.decode()
    assert "<code>files:write</code>" in page
    assert 'class="token-folder" data-label="Only inside">Invoices</td>' in page


def field_errors(response, field: str) -> list[str]:
    return list(response.context["form"].errors.get(field, []))


def test_the_web_page_shows_scope_and_folder_errors_next_to_their_fields(alice_client, alice):
    body = {"name": "x", "expires_in_days": ""}
    response = alice_client.post(TOKENS, {**body, "scopes": ["admin"]})
    assert response.status_code == 200
    assert field_errors(response, "scopes") == [
        "Only staff accounts can give a token the “admin” scope."
    ]
    response = alice_client.post(TOKENS, body)
    assert field_errors(response, "scopes") == ["Choose at least one scope."]
    response = alice_client.post(TOKENS, {**body, "scopes": ["files:read"], "folder": "Nope"})
    assert field_errors(response, "folder") == ["You have no folder at this path."]
    assert 'id="id_folder_error"' in response.content.decode() or "errorlist" in (
        response.content.decode()
    )
    assert not ApiToken.objects.exists()


# --- tokens made before scopes --------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_tokens_made_before_scopes_keep_every_right_after_the_migration(django_user_model):
    before = ("accounts", "0006_user_language")
    executor = MigrationExecutor(connection)
    try:
        executor.migrate([before])
        old_apps = executor.loader.project_state([before]).apps
        User = old_apps.get_model("accounts", "User")
        OldToken = old_apps.get_model("accounts", "ApiToken")
        user = User.objects.create(username="old", email="old@example.com", password="!")
        OldToken.objects.create(user=user, name="old", token_hash="a" * 64, prefix="lk_aaaa")
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
    token = ApiToken.objects.get(name="old")
    assert token.scopes == ["*"] and token.folder is None


def test_a_full_token_reaches_every_kind_of_route(alice):
    api = api_client_for(alice)  # made without scopes: ["*"]
    for url in ("/api/v1/files/", "/api/v1/shares/", "/api/v1/upload-links/", "/api/v1/me/"):
        assert api.get(url).status_code == 200, url
