"""Revoke asks first (issue 16, defect 4): share links, upload links and API tokens open an
accessible <dialog> that the keyboard drives (Escape keeps, focus goes back to the button), and
without JavaScript the button leads to a confirmation page."""

import pytest
from playwright.sync_api import expect

from accounts.models import ApiToken
from accounts.services import api_token_create
from sharing.models import ShareLink
from sharing.services import share_create
from sharing.upload_links import upload_link_create
from tests.fixtures.browser import log_in
from tests.sharing.conftest import make_folder, store_file

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def focused_text(page) -> str:
    return page.evaluate("() => document.activeElement.textContent.trim()")


def test_revoking_a_share_link_from_the_keyboard_asks_first(logged_in_page, live_server, alice):
    file = store_file(alice, "budget.xlsx", b"cells")
    share, _token = share_create(owner=alice, file=file)
    page = logged_in_page(alice)
    page.goto(f"{live_server.url}/shares/")
    button = page.locator(".share-revoke")
    button.focus()
    page.keyboard.press("Enter")
    dialog = page.locator("#revoke-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_have_attribute("open", "")
    expect(page.locator("#revoke-dialog-message")).to_contain_text("“budget.xlsx”")
    assert focused_text(page) == "Keep it"  # the safe choice has the focus

    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    assert page.evaluate("() => document.activeElement.classList.contains('share-revoke')")
    share.refresh_from_db()
    assert share.revoked_at is None

    page.keyboard.press("Enter")
    expect(dialog).to_be_visible()
    page.keyboard.press("Tab")
    assert focused_text(page) == "Revoke"
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page.locator(".messages")).to_contain_text("revoked")
    share.refresh_from_db()
    assert share.revoked_at is not None


def test_revoking_an_upload_link_and_a_token_asks_first(logged_in_page, live_server, alice):
    link, _token = upload_link_create(owner=alice, folder=make_folder(alice, "Inbox"))
    api_token_create(user=alice, name="laptop")
    page = logged_in_page(alice)

    page.goto(f"{live_server.url}/shares/uploads/{link.public_id}/")
    page.click("#upload-link-revoke")
    expect(page.locator("#revoke-dialog-message")).to_contain_text("“Inbox”")
    page.click("#revoke-dialog-cancel")
    expect(page.locator("#revoke-dialog")).to_be_hidden()
    link.refresh_from_db()
    assert link.revoked_at is None
    page.click("#upload-link-revoke")
    with page.expect_navigation():
        page.click("#revoke-dialog-confirm")
    link.refresh_from_db()
    assert link.revoked_at is not None

    page.goto(f"{live_server.url}/accounts/tokens/")
    page.locator("#tokens tbody tr", has_text="laptop").get_by_role("button").click()
    expect(page.locator("#revoke-dialog-message")).to_contain_text("“laptop”")
    assert ApiToken.objects.get(name="laptop").revoked_at is None
    with page.expect_navigation():
        page.click("#revoke-dialog-confirm")
    expect(page.locator("#tokens tbody tr", has_text="laptop")).to_have_count(0)
    assert ApiToken.objects.get(name="laptop").revoked_at is not None


def test_without_javascript_revoke_goes_through_a_confirmation_page(browser, live_server, alice):
    file = store_file(alice, "plan.txt", b"plan")
    share, _token = share_create(owner=alice, file=file)
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        log_in(page, live_server, alice)
        page.goto(f"{live_server.url}/shares/")
        page.click(".share-revoke")
        expect(page.locator("#revoke-confirm h1")).to_have_text("Revoke this link?")
        expect(page.locator("#revoke-confirm")).to_contain_text("“plan.txt”")
        share.refresh_from_db()
        assert share.revoked_at is None
        page.click("#revoke-confirm-cancel")
        expect(page).to_have_url(f"{live_server.url}/shares/{share.public_id}/")
        page.click("#share-revoke")
        page.click("#revoke-confirm-submit")
        expect(page.locator(".messages")).to_contain_text("revoked")
    finally:
        context.close()
    assert ShareLink.objects.get().revoked_at is not None
