"""Quick send (issue 16, defect 7): reachable from the Files page and the menu, files chosen or
dropped, a title the recipient sees, progress per file with its name and percentage, and
"Send more files" after success."""

import pytest
from playwright.sync_api import expect

from files.models import File
from sharing.models import ShareLink

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DROP = """([selector, files]) => {
    const transfer = new DataTransfer();
    for (const [name, text] of files) transfer.items.add(new File([text], name));
    const target = document.querySelector(selector);
    for (const type of ["dragenter", "dragover"]) {
        target.dispatchEvent(new DragEvent(type, {dataTransfer: transfer, bubbles: true,
                                                  cancelable: true}));
    }
    const drop = new DragEvent("drop", {dataTransfer: transfer, bubbles: true, cancelable: true});
    target.dispatchEvent(drop);
    return drop.defaultPrevented;
}"""


def test_send_dropped_and_chosen_files_with_a_title_then_send_more(
    logged_in_page, live_server, browser, alice, tmp_path
):
    chosen = tmp_path / "notes.txt"
    chosen.write_bytes(b"chosen file")
    page = logged_in_page(alice)
    page.goto(f"{live_server.url}/")
    expect(page.locator("#nav-send")).to_be_visible()
    page.click("#send-files-link")
    expect(page).to_have_url(f"{live_server.url}/shares/send")

    # Dropped anywhere on the page: the page takes them, the browser does not open them.
    page.wait_for_load_state()  # the page's module has run
    files = [["beach.jpg", "sand"], ["sunset.jpg", "sky"], ["oops.txt", "not this one"]]
    assert page.evaluate(DROP, ["main", files]) is True
    page.set_input_files("#send-files", str(chosen))
    rows = page.locator("#send-list .send-file")
    expect(rows.locator(".send-name")).to_have_text(
        ["beach.jpg", "sunset.jpg", "oops.txt", "notes.txt"]
    )
    rows.filter(has_text="oops.txt").get_by_role("button", name="Remove oops.txt").click()
    expect(rows).to_have_count(3)
    page.fill("#send-title", "Holiday photos for Bob")
    page.click("#send-submit")

    expect(page.locator("#send-result")).to_be_visible()
    expect(page.locator("#send-summary")).to_have_text(
        "Sent “Holiday photos for Bob”: beach.jpg, sunset.jpg, notes.txt."
    )
    for name in ("beach.jpg", "sunset.jpg", "notes.txt"):
        expect(page.get_by_label(f"Sending {name}")).to_have_attribute("value", "100")
    expect(rows.locator(".send-percent")).to_have_text(["100 %"] * 3)
    url = page.input_value("#send-url")
    share = ShareLink.objects.get()
    assert share.label == "Holiday photos for Bob" and share.folder is not None
    assert sorted(File.objects.filter(folder=share.folder).values_list("name", flat=True)) == [
        "beach.jpg",
        "notes.txt",
        "sunset.jpg",
    ]

    context = browser.new_context()
    try:
        visitor = context.new_page()
        visitor.goto(url.replace("http://127.0.0.1:8000", live_server.url))
        expect(visitor.locator("#share-name")).to_have_text("Holiday photos for Bob")
    finally:
        context.close()

    # Send more: the form comes back empty.
    page.click("#send-another")
    expect(page.locator("#send-form")).to_be_visible()
    expect(page.locator("#send-result")).to_be_hidden()
    expect(rows).to_have_count(0)
    expect(page.locator("#send-title")).to_have_value("")
    page.set_input_files("#send-files", str(chosen))
    page.fill("#send-title", "The contract, signed")
    page.click("#send-submit")
    expect(page.locator("#send-result")).to_be_visible()
    second = page.input_value("#send-url")
    assert second != url and ShareLink.objects.count() == 2

    context = browser.new_context()
    try:
        visitor = context.new_page()
        visitor.goto(second.replace("http://127.0.0.1:8000", live_server.url))
        expect(visitor.locator("#share-name")).to_have_text("notes.txt")
        expect(visitor.locator("#share-send-title")).to_have_text("The contract, signed")
    finally:
        context.close()
