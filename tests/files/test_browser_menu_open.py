"""The ⋯ menu's "Open" shows a viewable file in the in-app viewer, as clicking its name does,
instead of a new tab (issue 16)."""

import pytest
from playwright.sync_api import expect

from tests.files.test_browser_files import api_upload, open_listing, row
from tests.workers.media import png

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_open_from_the_menu_shows_the_viewer_and_focus_returns_to_the_menu(
    logged_in_page, live_server, alice
):
    page = logged_in_page(alice)
    ids = {name: api_upload(alice, name, png())["id"] for name in ("a.png", "b.png")}
    open_listing(page, live_server)
    tabs = []
    page.context.on("page", lambda opened: tabs.append(opened.url))

    item = row(page, "b.png")
    item.locator("summary").click()
    item.get_by_role("link", name="Open", exact=True).click()

    viewer = page.locator("#viewer")
    expect(viewer).to_be_visible()
    expect(viewer.locator("#viewer-title")).to_have_text("b.png")
    expect(viewer.locator("#viewer-position")).to_have_text("2 of 2")
    expect(viewer.locator("#viewer-stage img")).to_have_attribute(
        "src", f"/api/v1/files/{ids['b.png']}/content/?inline=1"
    )
    expect(item.locator("details.menu")).not_to_have_attribute("open", "")
    page.keyboard.press("Escape")
    expect(viewer).to_be_hidden()
    expect(item.locator("summary")).to_be_focused()
    assert tabs == []
