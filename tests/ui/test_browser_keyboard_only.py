"""Keyboard-only runs of the three everyday flows (issue 16): upload a file, share it and copy
the link, revoke the link. Only Tab, Shift+Tab, Enter and Escape are pressed, starting from the
top of the page, so every step must be reachable and visible to a keyboard."""

import pytest
from playwright.sync_api import expect

from files.models import File
from sharing.models import ShareLink
from tests.files.test_browser_files import open_listing, row

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ACTIVE = """() => {
    const e = document.activeElement;
    return [e.id, e.tagName, (e.getAttribute("aria-label") || e.textContent || "").trim()];
}"""


def tab_to(page, wanted, limit: int = 80) -> None:
    """Press Tab until the focused element matches `wanted(id, tag, text)`; fail past `limit`."""
    seen = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        element_id, tag, text = page.evaluate(ACTIVE)
        if wanted(element_id, tag, text):
            return
        seen.append(element_id or f"{tag}:{text[:20]}")
    raise AssertionError(f"never reached by Tab; focus went through {seen}")


def test_upload_share_copy_and_revoke_with_the_keyboard_only(
    logged_in_page, live_server, alice, tmp_path
):
    page = logged_in_page(alice)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    report = tmp_path / "report.txt"
    report.write_bytes(b"quarterly numbers")
    open_listing(page, live_server)

    # Upload: Tab to "Upload files", Enter opens the browser's file chooser.
    tab_to(page, lambda i, _tag, _text: i == "upload-input")
    with page.expect_file_chooser() as chooser:
        page.keyboard.press("Enter")
    chooser.value.set_files(str(report))
    expect(row(page, "report.txt")).to_have_count(1)
    assert File.objects.filter(owner=alice, name="report.txt").exists()

    # Share: the row's ⋯ menu, then Share, Create link, Copy.
    tab_to(page, lambda _i, tag, text: tag == "SUMMARY" and "report.txt" in text)
    page.keyboard.press("Enter")
    expect(row(page, "report.txt").locator("details.menu")).to_have_attribute("open", "")
    tab_to(page, lambda _i, tag, text: tag == "BUTTON" and text == "Share", limit=12)
    page.keyboard.press("Enter")
    dialog = page.locator("#share-dialog")
    expect(dialog).to_be_visible()
    tab_to(page, lambda i, _tag, _text: i == "share-dialog-create", limit=15)
    page.keyboard.press("Enter")
    url_field = page.locator("#share-dialog-url")
    expect(url_field).to_be_visible()
    url = url_field.input_value()
    assert "/s/" in url  # on the configured public address
    tab_to(page, lambda i, _tag, _text: i == "share-dialog-copy", limit=5)
    page.keyboard.press("Enter")
    expect(page.locator("#share-dialog-copy")).to_have_text("Copied")
    assert page.evaluate("() => navigator.clipboard.readText()") == url
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    share = ShareLink.objects.get(file__name="report.txt")
    assert share.revoked_at is None

    # Revoke, from /shares/: Tab to Revoke, Enter asks, Tab to the confirming button, Enter.
    page.goto(f"{live_server.url}/shares/")
    tab_to(page, lambda _i, _tag, text: text == "Revoke")
    page.keyboard.press("Enter")
    expect(page.locator("#revoke-dialog")).to_be_visible()
    tab_to(page, lambda i, _tag, _text: i == "revoke-dialog-confirm", limit=4)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page.locator(".messages")).to_contain_text("revoked")
    share.refresh_from_db()
    assert share.revoked_at is not None
