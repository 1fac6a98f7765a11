"""The web UI's resumable uploads in Chromium: a large file goes through tus, and after a reload
mid-upload the same file chosen again resumes from the server's offset instead of restarting."""

import contextlib
import hashlib
import os
import re

import pytest
from playwright.sync_api import expect

from files.models import File, TusUpload
from sharing.upload_links import upload_link_create
from tests.tus.helpers import stored_bytes

pytestmark = pytest.mark.browser

MIB = 1024 * 1024
CHUNK = 8 * MIB  # static/js/tus-client.js


def _cut_later_chunks(route):
    """Let the first chunk through; every later chunk dies as if the network went away."""
    request = route.request
    if request.method == "PATCH" and request.headers.get("upload-offset", "0") != "0":
        route.abort("connectionreset")
    else:
        route.continue_()


def _upload_resumes_after_reload(page, open_page, choose, row_selector, tmp_path, tus_pattern):
    data = os.urandom(24 * MIB + 5)
    path = tmp_path / "holiday.mov"
    path.write_bytes(data)
    page.route(tus_pattern, _cut_later_chunks)
    open_page()
    choose(str(path))
    row = page.locator(row_selector)
    # The first chunk is stored; the second keeps failing, so the page waits to retry.
    expect(row.locator(".upload-status")).to_contain_text(re.compile("retrying", re.I))
    assert TusUpload.objects.get().offset == CHUNK

    page.unroute(tus_pattern)
    page.reload()
    open_page()
    choose(str(path))
    row = page.locator(row_selector)
    expect(row).to_have_attribute("data-resumed-at", str(CHUNK))
    return data


def test_large_upload_resumes_after_a_reload(logged_in_page, live_server, alice, tmp_path):
    page = logged_in_page(alice)

    def open_page():
        page.goto(f"{live_server.url}/")
        expect(page.locator("tbody[aria-busy]")).to_have_count(0)

    def choose(path):
        page.set_input_files("#upload-input", path)

    data = _upload_resumes_after_reload(
        page, open_page, choose, "#upload-list .upload", tmp_path, re.compile(r"/api/v1/tus/.+")
    )
    row = page.locator("#upload-list .upload")
    expect(row).to_have_attribute("data-state", "done", timeout=60_000)
    expect(row.locator(".upload-percent")).to_have_text("100 %")
    file = File.objects.get(owner=alice)
    assert file.name == "holiday.mov"
    assert file.sha256 == hashlib.sha256(data).hexdigest()
    assert stored_bytes(file) == data
    assert TusUpload.objects.count() == 1  # the same upload, resumed
    expect(page.get_by_role("link", name="holiday.mov", exact=True)).to_be_visible()


def test_upload_link_page_resumes_a_large_upload_after_a_reload(page, live_server, alice, tmp_path):
    from files.services import folder_create

    inbox = folder_create(user=alice, parent=None, name="Inbox")
    _link, token = upload_link_create(owner=alice, folder=inbox)

    def open_page():
        page.goto(f"{live_server.url}/r/{token}")

    def choose(path):
        page.set_input_files("#upload-file", path)
        page.click("#upload-submit")

    data = _upload_resumes_after_reload(
        page, open_page, choose, "#upload-results li", tmp_path, re.compile(r"/r/.+/tus/.+")
    )
    expect(page.locator("#upload-results li.done")).to_have_count(1, timeout=60_000)
    file = File.objects.get(owner=alice, folder=inbox)
    assert stored_bytes(file) == data
    assert TusUpload.objects.count() == 1


def test_pause_and_resume_finish_the_upload(logged_in_page, live_server, alice, tmp_path):
    page = logged_in_page(alice)
    data = os.urandom(20 * MIB)
    path = tmp_path / "paused.bin"
    path.write_bytes(data)
    held = []

    def hold_second_chunk(route):
        # Keep the second chunk from reaching the server until the test has pressed Pause.
        if route.request.method == "PATCH" and route.request.headers.get("upload-offset") != "0":
            held.append(route)
        else:
            route.continue_()

    pattern = re.compile(r"/api/v1/tus/.+")
    page.route(pattern, hold_second_chunk)
    page.goto(f"{live_server.url}/")

    def second_chunk(request):
        return request.method == "PATCH" and request.headers.get("upload-offset") != "0"

    with page.expect_request(second_chunk, timeout=60_000):
        page.set_input_files("#upload-input", str(path))
    row = page.locator("#upload-list .upload")
    pause = row.locator(".upload-pause")
    expect(pause).to_be_visible()
    pause.click()
    expect(row).to_have_attribute("data-state", "paused")
    expect(row.locator(".upload-status")).to_have_text("Paused")
    page.unroute(pattern)
    for route in held:
        with contextlib.suppress(Exception):  # the browser may have dropped it already
            route.abort()
    pause.click()
    expect(row).to_have_attribute("data-state", "done", timeout=60_000)
    assert stored_bytes(File.objects.get(owner=alice)) == data
