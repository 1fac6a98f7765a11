"""The sharing flows in a real Chromium: owner creates, a stranger in a fresh context uses."""

import io
import zipfile

import pytest

from files.models import File
from sharing.models import ShareLink
from sharing.services import share_create
from sharing.upload_links import upload_link_create
from tests.sharing.conftest import make_folder, store_file

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CONTENT = b"the quarterly report\n" * 50


def fresh_page(browser):
    context = browser.new_context(accept_downloads=True)
    return context, context.new_page()


def download_bytes(page, selector) -> bytes:
    with page.expect_download() as info:
        page.click(selector)
    path = info.value.path()
    with open(path, "rb") as fh:
        return fh.read()


def test_share_with_password_and_expiry_then_open_it_elsewhere(
    live_server, logged_in_page, browser, alice
):
    file = store_file(alice, "report.txt", CONTENT)
    page = logged_in_page(alice)
    page.goto(f"{live_server.url}/shares/new?file={file.public_id}")
    page.select_option("#id_expires_in", "1d")
    page.fill("#id_password", "correct horse")
    page.click("#share-create")
    url = page.input_value("#share-url")
    assert url.startswith("http") and "/s/" in url
    page.click("#share-copy")
    page.wait_for_selector("#share-copy:has-text('Copied')")
    share = ShareLink.objects.get()
    assert share.expires_at is not None and share.has_password

    context, visitor = fresh_page(browser)
    try:
        visitor.goto(url.replace("http://127.0.0.1:8000", live_server.url))
        visitor.fill("#share-password", "wrong")
        visitor.click("#share-unlock")
        visitor.wait_for_selector("#share-password-error")
        visitor.fill("#share-password", "correct horse")
        visitor.click("#share-unlock")
        visitor.wait_for_selector("#share-name:has-text('report.txt')")
        assert download_bytes(visitor, "#share-download-button") == CONTENT
    finally:
        context.close()
    share.refresh_from_db()
    assert share.download_count == 1


def test_share_dialog_module_creates_a_link(live_server, logged_in_page, browser, alice):
    file = store_file(alice, "dialog.txt", b"from the dialog")
    page = logged_in_page(alice)
    page.goto(f"{live_server.url}/shares/")
    # What the file browser's Share button will do (see docs/sharing.md).
    page.evaluate(
        """([id, name]) => import('/static/js/sharing-dialog.js')
            .then((m) => { window.shareDone = m.openShareDialog({kind: 'file', id, name}); })""",
        [str(file.public_id), file.name],
    )
    page.wait_for_selector("#share-dialog")
    # The dialog says what "preview only" protects, next to the choice.
    help_text = page.text_content("#share-dialog-allow_download-help")
    assert "never the file itself" in help_text and "can still save" in help_text
    page.fill("#share-dialog-max_downloads", "0")
    page.click("#share-dialog-create")
    page.wait_for_selector("#share-dialog-max_downloads-errors li")
    page.fill("#share-dialog-max_downloads", "2")
    page.fill("#share-dialog-label", "<b>for Bob</b>")
    page.click("#share-dialog-create")
    page.wait_for_selector("#share-dialog-url")
    url = page.input_value("#share-dialog-url")
    share = ShareLink.objects.get()
    assert (share.max_downloads, share.label) == (2, "<b>for Bob</b>")
    context, visitor = fresh_page(browser)
    try:
        visitor.goto(url.replace("http://127.0.0.1:8000", live_server.url))
        assert download_bytes(visitor, "#share-download-button") == b"from the dialog"
    finally:
        context.close()


def test_upload_through_an_upload_link(live_server, browser, alice, tmp_path):
    inbox = make_folder(alice, "Inbox")
    _link, token = upload_link_create(owner=alice, folder=inbox, message="Your photos please")
    sample = tmp_path / "holiday.txt"
    sample.write_bytes(b"sunny beach")
    context, visitor = fresh_page(browser)
    try:
        visitor.goto(f"{live_server.url}/r/{token}")
        visitor.wait_for_selector("#upload-message:has-text('Your photos please')")
        visitor.set_input_files("#upload-file", str(sample))
        visitor.click("#upload-submit")
        visitor.wait_for_selector("#upload-results li.done")
    finally:
        context.close()
    stored = File.objects.get(folder=inbox)
    assert (stored.name, stored.size) == ("holiday.txt", 11)


def test_quick_send(live_server, logged_in_page, browser, alice, tmp_path):
    first = tmp_path / "one.txt"
    first.write_bytes(b"first file")
    page = logged_in_page(alice)
    page.goto(f"{live_server.url}/shares/send")
    page.set_input_files("#send-files", str(first))
    page.fill("#send-password", "s3cret pass")
    page.click("#send-submit")
    page.wait_for_selector("#send-url", state="visible")
    url = page.input_value("#send-url")
    context, visitor = fresh_page(browser)
    try:
        visitor.goto(url.replace("http://127.0.0.1:8000", live_server.url))
        visitor.fill("#share-password", "s3cret pass")
        visitor.click("#share-unlock")
        assert download_bytes(visitor, "#share-download-button") == b"first file"
    finally:
        context.close()
    assert File.objects.get(name="one.txt").folder.name == "Sent"


def test_a_preview_only_pdf_link_shows_its_first_page_as_an_image(
    live_server, browser, alice, settings
):
    from files import processing
    from tests.workers import media

    settings.LOCKER_SCANNER = "none"
    settings.LOCKER_THUMBNAILS = True
    file = store_file(alice, "scan.pdf", media.pdf(pages=2, size=(400, 600)))
    processing.file_process(file_id=file.pk)
    _share, token = share_create(owner=alice, file=file, allow_download=False)
    context, visitor = fresh_page(browser)
    try:
        visitor.goto(f"{live_server.url}/s/{token}")
        image = visitor.locator(".share-preview img")
        image.wait_for()
        visitor.wait_for_function(
            "() => document.querySelector('.share-preview img').naturalWidth > 0"
        )
        width, height = visitor.evaluate(
            "() => { const i = document.querySelector('.share-preview img');"
            " return [i.naturalWidth, i.naturalHeight]; }"
        )
        assert (width, height) == (683, 1024)  # the page, rendered and capped at 1024 px
        assert visitor.locator("#share-download-button").count() == 0
    finally:
        context.close()


def test_owner_sees_and_cancels_an_upload_in_progress_on_the_link_page(
    live_server, logged_in_page, alice
):
    from django.test import Client

    from files.models import TusUpload, UploadReservation
    from tests.tus.helpers import create

    inbox = make_folder(alice, "Inbox")
    link, token = upload_link_create(owner=alice, folder=inbox, label="Scans")
    assert create(Client(), 5000, base=f"/r/{token}/tus/", name="big-scan.pdf").status_code == 201
    page = logged_in_page(alice)
    page.goto(f"{live_server.url}/shares/uploads/{link.public_id}/")
    row = page.locator("#uploads-in-progress tbody tr", has_text="big-scan.pdf")
    assert "0 B of 4.9 KiB" in row.inner_text().replace("\xa0", " ")
    row.locator("button[data-cancel-upload]").click()
    page.wait_for_selector("#uploads-in-progress:has-text('No upload is in progress')")
    assert not TusUpload.objects.exists() and not UploadReservation.objects.exists()


def test_a_visitor_pages_through_a_big_folder_and_downloads_a_selection(
    live_server, browser, alice
):
    folder = make_folder(alice, "Scans")
    for n in range(130):
        store_file(alice, f"scan {n:03}.txt", b"scan %d\n" % n, folder=folder)
    _share, token = share_create(owner=alice, folder=folder)
    context, visitor = fresh_page(browser)
    try:
        visitor.goto(f"{live_server.url}/s/{token}")
        rows = visitor.locator("tr.share-entry")
        assert rows.count() == 100
        assert rows.first.inner_text().split("\t")[1] == "scan 000.txt"
        visitor.click("#share-page-next")
        visitor.wait_for_selector("tr.share-entry:has-text('scan 129.txt')")
        assert rows.count() == 30
        assert rows.first.inner_text().split("\t")[1] == "scan 100.txt"
        assert visitor.locator("#share-page-next").count() == 0
        # A selection on this page is a ZIP of what was ticked here.
        visitor.check("input[aria-label='Select scan 120.txt']")
        body = download_bytes(visitor, "#share-download-selected")
        assert zipfile.ZipFile(io.BytesIO(body)).namelist() == ["scan 120.txt"]
        visitor.click("#share-page-previous")
        visitor.wait_for_selector("tr.share-entry:has-text('scan 000.txt')")
        assert rows.count() == 100
        assert visitor.locator("#share-page-previous").count() == 0
    finally:
        context.close()
