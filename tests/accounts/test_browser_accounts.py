import re

import pytest
from playwright.sync_api import expect
from rest_framework.test import APIClient

from accounts.models import ApiToken

pytestmark = pytest.mark.browser


def test_log_in_and_log_out_through_the_forms(logged_in_page, live_server, alice):
    page = logged_in_page(alice)
    page.goto(f"{live_server.url}/accounts/profile/")
    expect(page.locator("h1")).to_have_text("Your profile")
    page.click("#logout")
    expect(page).to_have_url(re.compile(r"/accounts/login/$"))
    page.goto(f"{live_server.url}/accounts/profile/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next="))


def test_wrong_password_shows_an_error_on_the_form(page, live_server, alice):
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "not her password")
    page.click("#login-form button[type=submit]")
    expect(page.locator(".form-errors")).to_contain_text("correct username and password")


def test_create_a_token_see_it_once_and_revoke_it(logged_in_page, live_server, alice):
    page = logged_in_page(alice)
    console_errors = []
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{live_server.url}/accounts/tokens/")
    expect(page.locator("#no-tokens")).to_be_visible()
    page.fill("#id_name", "my laptop")
    page.select_option("#id_expires_in_days", "30")
    page.click("#token-create button[type=submit]")

    secret = page.locator("#new-token-secret").inner_text().strip()
    assert secret.startswith("lk_")
    # The copy button is shown by the page's script, so the script ran under the CSP.
    expect(page.locator("[data-copy-target]")).to_be_visible()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert api.get("/api/v1/me/").json()["username"] == "alice"

    row = page.locator("#tokens tbody tr", has_text="my laptop")
    expect(row).to_have_count(1)
    page.goto(f"{live_server.url}/accounts/tokens/")
    expect(page.locator("#new-token")).to_have_count(0)
    assert secret not in page.content()

    page.locator("#tokens tbody tr", has_text="my laptop").locator("button").click()
    page.click("#revoke-dialog-confirm")  # revoking asks first
    expect(page.locator(".messages")).to_contain_text("revoked")
    expect(page.locator("#tokens tbody tr", has_text="my laptop")).to_have_count(0)
    assert ApiToken.objects.get(name="my laptop").revoked_at is not None
    assert api.get("/api/v1/me/").status_code == 401
    assert console_errors == []


def test_a_password_change_revokes_the_tokens_with_the_box_ticked_by_default(
    logged_in_page, live_server, alice
):
    from tests.fixtures.users import api_client_for

    script = api_client_for(alice)
    page = logged_in_page(alice)
    page.goto(f"{live_server.url}/accounts/password_change/")
    expect(page.locator("#id_revoke_tokens")).to_be_checked()
    expect(page.get_by_label("Also revoke my API tokens")).to_be_visible()
    page.fill("#id_old_password", "alice-password-1")
    page.fill("#id_new_password1", "brand new secret 77")
    page.fill("#id_new_password2", "brand new secret 77")
    page.get_by_role("button", name="Change password").click()
    expect(page).to_have_url(re.compile(r"/accounts/password_change/done/$"))
    assert script.get("/api/v1/me/").status_code == 401
    page.goto(f"{live_server.url}/accounts/profile/")  # this session stays logged in
    expect(page.locator("h1")).to_have_text("Your profile")
