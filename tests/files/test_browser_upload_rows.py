"""The upload rows of the Files page show only the controls that make sense (issue 16, defect
2): Pause only on a resumable upload in progress, never on a small or finished one (`[hidden]`
wins over `button { display: inline-block }`), and Cancel and Dismiss never drawn together."""

import contextlib
import os
import re

import pytest
from playwright.sync_api import expect

from files.models import File
from tests.tus.helpers import stored_bytes

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

MIB = 1024 * 1024


def boxes_overlap(a: dict, b: dict) -> bool:
    return not (
        a["x"] + a["width"] <= b["x"]
        or b["x"] + b["width"] <= a["x"]
        or a["y"] + a["height"] <= b["y"]
        or b["y"] + b["height"] <= a["y"]
    )


def test_a_small_finished_upload_shows_only_dismiss(logged_in_page, live_server, alice, tmp_path):
    page = logged_in_page(alice)
    path = tmp_path / "note.txt"
    path.write_bytes(b"a small note")
    page.goto(f"{live_server.url}/")
    page.set_input_files("#upload-input", str(path))
    row = page.locator("#upload-list .upload")
    expect(row).to_have_attribute("data-state", "done")
    expect(row.locator(".upload-pause")).to_be_hidden()
    expect(row.locator(".upload-cancel")).to_be_hidden()
    expect(row.locator(".upload-dismiss")).to_be_visible()
    row.locator(".upload-dismiss").click()
    expect(page.locator("#upload-list .upload")).to_have_count(0)


def test_a_large_upload_pauses_and_its_controls_never_overlap(
    logged_in_page, live_server, alice, tmp_path
):
    page = logged_in_page(alice)
    data = os.urandom(20 * MIB)
    path = tmp_path / "video.bin"
    path.write_bytes(data)
    held = []

    def hold_second_chunk(route):
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
    pause, cancel = row.locator(".upload-pause"), row.locator(".upload-cancel")
    expect(pause).to_be_visible()
    expect(row.locator(".upload-dismiss")).to_be_hidden()
    pause.click()
    expect(row).to_have_attribute("data-state", "paused")
    expect(pause).to_have_text("Resume")
    expect(cancel).to_be_visible()
    expect(row.locator(".upload-dismiss")).to_be_hidden()
    assert not boxes_overlap(pause.bounding_box(), cancel.bounding_box())

    page.unroute(pattern)
    for route in held:
        with contextlib.suppress(Exception):  # the browser may have dropped it already
            route.abort()
    pause.click()
    expect(row).to_have_attribute("data-state", "done", timeout=60_000)
    # Finished: no Pause/Resume and no Cancel, only Dismiss.
    expect(pause).to_be_hidden()
    expect(cancel).to_be_hidden()
    expect(row.locator(".upload-dismiss")).to_be_visible()
    expect(row.locator(".upload-status")).not_to_have_text("Paused")
    assert stored_bytes(File.objects.get(owner=alice)) == data
