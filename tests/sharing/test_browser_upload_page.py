"""The upload-link page as a file-request product (issue 16, defect 3): a drop zone over the
whole page, limits checked before any byte is sent, "files still accepted" updated after each
file, failed rows apart from received ones, total progress and a summary of what arrived."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from playwright.sync_api import expect

from files.models import File
from sharing.upload_links import upload_link_create
from tests.sharing.conftest import make_folder

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DROP = """([files]) => {
    const transfer = new DataTransfer();
    for (const [name, size] of files) {
        transfer.items.add(new File(["x".repeat(size)], name, {type: "text/plain"}));
    }
    const target = document.querySelector("h1");  // anywhere on the page, not only the box
    for (const type of ["dragenter", "dragover"]) {
        target.dispatchEvent(new DragEvent(type, {dataTransfer: transfer, bubbles: true,
                                                  cancelable: true}));
    }
    const zoneLit = document.getElementById("upload-drop").classList.contains("dragging");
    const drop = new DragEvent("drop", {dataTransfer: transfer, bubbles: true, cancelable: true});
    target.dispatchEvent(drop);
    return [drop.defaultPrevented, zoneLit];
}"""


def test_drop_limits_live_count_failed_rows_total_and_summary(live_server, browser, alice):
    inbox = make_folder(alice, "Inbox")
    _link, token = upload_link_create(owner=alice, folder=inbox, max_files=3, max_file_size=1000)
    context = browser.new_context()
    posts = []
    try:
        page = context.new_page()
        page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
        page.goto(f"{live_server.url}/r/{token}")
        expect(page.locator("#upload-files-left")).to_have_text("Files still accepted: 3.")

        files = [["a.txt", 10], ["huge.txt", 5000], ["b.txt", 20], ["c.txt", 30], ["d.txt", 40]]
        assert page.evaluate(DROP, [files]) == [True, True]  # the page took them, not the tab
        rows = page.locator("#upload-results li")
        expect(rows).to_have_count(5)
        # Refused before any byte is sent, each with its reason.
        huge = rows.filter(has_text="huge.txt")
        expect(huge).to_have_class("upload-row failed refused")
        expect(huge.locator(".upload-status")).to_have_text(
            "Not sent: this file is 4.9 KiB, larger than the limit of 1,000 B per file."
        )
        extra = rows.filter(has_text="d.txt")
        expect(extra).to_have_class("upload-row failed refused")
        expect(extra.locator(".upload-status")).to_contain_text("over the number of files")
        assert posts == []
        # A failed row does not look like a received one.
        assert huge.evaluate("e => getComputedStyle(e).backgroundColor") != "rgba(0, 0, 0, 0)"

        page.click("#upload-submit")
        expect(page.locator("#upload-results li.done")).to_have_count(3)
        expect(page.locator("#upload-total-bar")).to_have_attribute("value", "100")
        expect(page.locator("#upload-total-text")).to_have_text("Files sent: 3 of 3 · 60 B of 60 B")
        expect(page.locator("#upload-files-left")).to_have_text("This link accepts no more files.")
        expect(page.locator("#upload-file")).to_be_disabled()
        expect(page.locator("#upload-summary")).to_have_text(
            "Done. Files received: 3, 60 B in total: a.txt, b.txt, c.txt. "
            "Files not received: 2; see the reasons above."
        )
        assert len(posts) == 3  # one per accepted file, none for the refused ones
    finally:
        context.close()
    assert sorted(File.objects.filter(folder=inbox).values_list("name", flat=True)) == [
        "a.txt",
        "b.txt",
        "c.txt",
    ]


def test_files_left_goes_down_after_each_file(live_server, browser, alice, tmp_path):
    inbox = make_folder(alice, "Inbox")
    _link, token = upload_link_create(owner=alice, folder=inbox, max_files=5)
    first = tmp_path / "first.txt"
    first.write_bytes(b"one")
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"{live_server.url}/r/{token}")
        page.set_input_files("#upload-file", str(first))
        page.click("#upload-submit")
        expect(page.locator("#upload-files-left")).to_have_text("Files still accepted: 4.")
        # Someone else used the link meanwhile: the next answer brings the count up to date.
        for name in ("x.txt", "y.txt"):
            file = SimpleUploadedFile(name, b"from elsewhere")
            assert Client().post(f"/r/{token}/upload", {"file": file}).status_code == 201
        page.set_input_files("#upload-file", str(first))
        page.click("#upload-submit")
        expect(page.locator("#upload-files-left")).to_have_text("Files still accepted: 1.")
        expect(page.locator("#upload-summary")).to_contain_text("Files received: 2")
    finally:
        context.close()


def test_the_upload_page_and_quick_send_fit_a_phone(logged_in_page, live_server, browser, alice):
    _link, token = upload_link_create(
        owner=alice, folder=make_folder(alice, "Inbox"), max_files=2, max_file_size=10
    )
    long_name = "a-very-long-file-name-without-any-space-" * 4 + ".txt"
    no_sideways = "() => document.documentElement.scrollWidth <= window.innerWidth"
    page = logged_in_page(alice)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/shares/send")
    page.wait_for_load_state()
    page.evaluate(
        """(name) => { const t = new DataTransfer(); t.items.add(new File(["x"], name));
            document.body.dispatchEvent(new DragEvent("drop", {dataTransfer: t, bubbles: true,
                                                               cancelable: true})); }""",
        long_name,
    )
    expect(page.locator("#send-list .send-file")).to_have_count(1)
    assert page.evaluate(no_sideways)
    page.goto(f"{live_server.url}/r/{token}")
    page.wait_for_load_state()
    page.evaluate(DROP, [[[long_name, 50], ["second.txt", 1], ["third.txt", 1], ["fourth.txt", 1]]])
    expect(page.locator("#upload-results li.refused")).to_have_count(2)
    assert page.evaluate(no_sideways)
