"""Through the UI, against a real worker and a real clamd: a photo, a PDF and EICAR."""

import re

import pytest
from playwright.sync_api import expect

from files.models import File
from sharing.services import share_create
from tests.fixtures.files import make_file
from tests.workers import media
from tests.workers.conftest import EICAR

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PROCESSING = 45_000  # ms: upload, scan and thumbnail on a busy CI machine


def _item(page, name: str):
    return page.locator("#listing-body tr").filter(
        has=page.locator(".item-name", has_text=re.compile(f"^{re.escape(name)}$"))
    )


def test_photo_and_pdf_get_thumbnails_and_eicar_is_infected(
    logged_in_page, live_server, alice, on_clamav_worker, tmp_path
):
    problems: list[str] = []
    page = logged_in_page(alice)
    page.on("pageerror", lambda error: problems.append(str(error)))
    photo = tmp_path / "holiday.jpg"
    photo.write_bytes(media.jpeg((1200, 800), orientation=6))
    pdf = tmp_path / "minutes.pdf"
    pdf.write_bytes(media.pdf())
    eicar = tmp_path / "eicar.com.txt"
    eicar.write_bytes(EICAR)

    page.goto(f"{live_server.url}/")
    expect(page.locator("#listing-body[aria-busy]")).to_have_count(0)
    page.set_input_files("#upload-input", [str(photo), str(pdf), str(eicar)])
    expect(page.locator("#upload-list .upload[data-state=done]")).to_have_count(3)

    for name in ("holiday.jpg", "minutes.pdf"):
        item = _item(page, name)
        expect(item.locator("img.item-thumb")).to_have_count(1, timeout=PROCESSING)
        expect(item.locator(".col-state .badge")).to_have_text("ready", timeout=PROCESSING)
        expect(item.locator("img.item-thumb")).to_have_js_property("complete", True)
        assert item.locator("img.item-thumb").evaluate("img => img.naturalWidth") > 0
    infected = _item(page, "eicar.com.txt")
    expect(infected.locator(".col-state .badge")).to_have_text("infected", timeout=PROCESSING)
    expect(infected.locator(".state-reason")).to_contain_text("virus")
    expect(infected.locator(".action-download")).to_have_count(0)

    # The grid view shows the same thumbnails, bigger.
    page.click("#view-toggle")
    expect(page.locator("#browser")).to_have_class(re.compile(r"\bgrid\b"))
    expect(page.locator("#listing-body img.item-thumb")).to_have_count(2)

    # A share link of the infected file refuses the download.
    file = File.objects.get(owner=alice, name="eicar.com.txt")
    _, token = share_create(owner=alice, file=file)
    page.goto(f"{live_server.url}/s/{token}")
    expect(page.locator("body")).to_contain_text("This file cannot be downloaded.")
    expect(page.locator("#share-download-button")).to_have_count(0)
    assert page.request.get(f"{live_server.url}/s/{token}/download").status == 409

    # A share link of the photo shows its thumbnail.
    photo_file = File.objects.get(owner=alice, name="holiday.jpg")
    _, token = share_create(owner=alice, file=photo_file, max_downloads=3)
    page.goto(f"{live_server.url}/s/{token}")
    expect(page.locator("#share-thumbnail")).to_have_js_property("complete", True)
    assert page.locator("#share-thumbnail").evaluate("img => img.naturalWidth") > 0
    assert problems == []


def test_a_file_waiting_for_processing_says_since_when(
    logged_in_page, live_server, alice, settings
):
    settings.LOCKER_SCANNER = "command"
    settings.LOCKER_SCAN_COMMAND = "cat >/dev/null"
    make_file(alice, "waiting.txt")  # no worker listens: it stays pending
    page = logged_in_page(alice)
    page.goto(f"{live_server.url}/")
    item = _item(page, "waiting.txt")
    expect(item.locator(".col-state .badge")).to_have_text("pending")
    expect(item.locator(".processing-since")).to_contain_text("Being processed since")
