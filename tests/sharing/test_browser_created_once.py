"""Every create form redirects after its POST (issue 16, defect 1): the new secret (API token,
share link, upload link) is shown once by a page reached with GET, so a reload shows it no more
and creates nothing."""

import pytest
from playwright.sync_api import expect

from accounts.models import ApiToken
from sharing.models import ShareLink, UploadLink
from tests.sharing.conftest import make_folder, store_file

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def submit(page, selector):
    """Click a submit button; the document the browser ends on and the method that fetched it."""
    with page.expect_navigation() as navigation:
        page.click(selector)
    return navigation.value


def test_a_new_api_token_is_shown_once_and_a_reload_creates_none(
    logged_in_page, live_server, alice
):
    page = logged_in_page(alice)
    page.goto(f"{live_server.url}/accounts/tokens/")
    page.fill("#id_name", "backup script")
    landed = submit(page, "#token-create button[type=submit]")
    assert landed.request.method == "GET" and landed.status == 200
    secret = page.locator("#new-token-secret").inner_text().strip()
    assert secret.startswith("lk_")

    page.reload()
    expect(page.locator("#tokens tbody tr", has_text="backup script")).to_have_count(1)
    expect(page.locator("#new-token")).to_have_count(0)
    assert secret not in page.content()
    assert ApiToken.objects.filter(user=alice).count() == 1


def test_a_new_share_link_is_shown_once_and_a_reload_creates_none(
    logged_in_page, live_server, alice
):
    file = store_file(alice, "report.txt", b"numbers")
    page = logged_in_page(alice)
    page.goto(f"{live_server.url}/shares/new?file={file.public_id}")
    landed = submit(page, "#share-create")
    share = ShareLink.objects.get()
    assert landed.request.method == "GET"
    assert landed.url == f"{live_server.url}/shares/{share.public_id}/created"
    url = page.input_value("#share-url")
    assert "/s/" in url

    page.reload()
    # The link is gone from the page: the reload lands on the link's own page.
    expect(page).to_have_url(f"{live_server.url}/shares/{share.public_id}/")
    expect(page.locator("#share-url")).to_have_count(0)
    assert url.rsplit("/", 1)[1] not in page.content()
    assert ShareLink.objects.count() == 1


def test_a_new_upload_link_is_shown_once_and_a_reload_creates_none(
    logged_in_page, live_server, alice
):
    inbox = make_folder(alice, "Inbox")
    page = logged_in_page(alice)
    page.goto(f"{live_server.url}/shares/uploads/new?folder={inbox.public_id}")
    page.fill("#id_max_files", "3")
    landed = submit(page, "#upload-link-create")
    link = UploadLink.objects.get()
    assert landed.request.method == "GET"
    url = page.input_value("#share-url")
    assert "/r/" in url

    page.reload()
    expect(page).to_have_url(f"{live_server.url}/shares/uploads/{link.public_id}/")
    expect(page.locator("#share-url")).to_have_count(0)
    assert UploadLink.objects.count() == 1
