"""Copy link, QR code and e-mail of links in a real Chromium: the owner copies a link again from
the file's ⋯ menu, the link's page and the list of links; downloads its QR code; and e-mails a
new link from the Share dialog."""

import pytest
from django.core import mail
from playwright.sync_api import expect

from sharing.models import ShareLink
from sharing.services import share_create
from sharing.upload_links import upload_link_create
from tests.sharing.conftest import make_folder, store_file

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def clipboard_page(logged_in_page, live_server, alice):
    page = logged_in_page(alice)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    return page


def clipboard(page) -> str:
    return page.evaluate("navigator.clipboard.readText()")


def test_copy_link_again_from_the_list_the_detail_page_and_the_file_menu(
    clipboard_page, live_server, alice
):
    page = clipboard_page
    file = store_file(alice, "report.txt", b"numbers")
    share, token = share_create(owner=alice, file=file)
    inbox = make_folder(alice, "Inbox")
    link, link_token = upload_link_create(owner=alice, folder=inbox)

    page.goto(f"{live_server.url}/shares/")
    page.locator(f"tr[data-share-id='{share.public_id}'] .share-copy").click()
    expect(page.locator(".share-copy")).to_have_text("Copied")
    assert clipboard(page).endswith(f"/s/{token}")
    page.locator(".upload-link-copy").click()
    expect(page.locator(".upload-link-copy")).to_have_text("Copied")
    assert clipboard(page).endswith(f"/r/{link_token}")

    page.goto(f"{live_server.url}/shares/{share.public_id}/")
    page.evaluate("navigator.clipboard.writeText('')")
    page.click("#share-copy")
    expect(page.locator("#share-copy")).to_have_text("Copied")
    assert clipboard(page).endswith(f"/s/{token}")
    # The QR code is drawn and downloads as an SVG file.
    assert page.evaluate("document.getElementById('share-qr').naturalWidth") > 0
    with page.expect_download() as info:
        page.click("#share-qr-download")
    assert info.value.suggested_filename == "share-link-qr.svg"
    with open(info.value.path(), "rb") as fh:
        assert fh.read().startswith(b"<?xml")

    page.goto(f"{live_server.url}/")
    page.evaluate("navigator.clipboard.writeText('')")
    item = page.locator("#listing-body tr").filter(
        has=page.get_by_role("link", name="report.txt", exact=True)
    )
    item.locator("summary").click()
    item.get_by_role("button", name="Copy link", exact=True).click()
    expect(page.locator("#page-status")).to_contain_text("Copied the link of “report.txt”")
    assert clipboard(page).endswith(f"/s/{token}")


def test_the_file_menu_says_when_there_is_no_link_to_copy(clipboard_page, live_server, alice):
    page = clipboard_page
    store_file(alice, "alone.txt", b"x")
    page.goto(f"{live_server.url}/")
    item = page.locator("#listing-body tr").filter(
        has=page.get_by_role("link", name="alone.txt", exact=True)
    )
    item.locator("summary").click()
    item.get_by_role("button", name="Copy link", exact=True).click()
    expect(page.locator("#page-status")).to_contain_text("has no working share link")


def test_share_dialog_sends_the_new_link_by_email(logged_in_page, live_server, alice, eager_celery):
    file = store_file(alice, "plan.txt", b"the plan")
    page = logged_in_page(alice)
    page.goto(f"{live_server.url}/shares/")
    page.evaluate(
        """([id, name]) => import('/static/js/sharing-dialog.js')
            .then((m) => { m.openShareDialog({kind: 'file', id, name}); })""",
        [str(file.public_id), file.name],
    )
    page.click("#share-dialog-create")
    page.wait_for_selector("#share-dialog-url")
    url = page.input_value("#share-dialog-url")
    page.fill("#share-dialog-recipients", "bob@example.com, not-an-address")
    page.fill("#share-dialog-message", "Here is <b>the plan</b>")
    page.click("#share-dialog-email-send")
    expect(page.locator("#share-dialog-recipients-errors li")).to_contain_text("not-an-address")
    assert mail.outbox == []
    page.fill("#share-dialog-recipients", "bob@example.com carol@example.org")
    page.click("#share-dialog-email-send")
    expect(page.locator("#share-dialog-email-status")).to_contain_text("2")
    expect(page.locator("#share-dialog-recipients-errors li")).to_have_count(0)
    assert sorted(m.to[0] for m in mail.outbox) == ["bob@example.com", "carol@example.org"]
    assert all(url in m.body and "Here is <b>the plan</b>" in m.body for m in mail.outbox)
    assert ShareLink.objects.count() == 1


def test_an_existing_link_is_sent_by_email_from_its_page(
    logged_in_page, live_server, alice, eager_celery
):
    share, token = share_create(owner=alice, file=store_file(alice, "old.txt", b"old"))
    page = logged_in_page(alice)
    page.goto(f"{live_server.url}/shares/{share.public_id}/")
    page.fill("#share-dialog-recipients", "")
    page.click("#share-dialog-email-send")
    expect(page.locator("#share-dialog-recipients-errors li")).to_contain_text("at least one")
    page.fill("#share-dialog-recipients", "dave@example.com")
    page.fill("#share-dialog-message", "As promised")
    page.click("#share-dialog-email-send")
    expect(page.locator("#share-dialog-email-status")).to_contain_text("1")
    (email,) = mail.outbox
    assert email.to == ["dave@example.com"] and f"/s/{token}" in email.body
    assert "As promised" in email.body
