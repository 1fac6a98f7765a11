"""Folder upload on the upload-link page (issue 16): the folder chooser sends a tree, each file
listed with its folder; folders too deep and files over a limit are refused before any byte is
sent, and the tree arrives inside a new folder for the visit, below the link's folder."""

import pytest
from playwright.sync_api import expect

from files.models import File, Folder
from sharing.upload_links import upload_link_create
from tests.sharing.conftest import make_folder

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_chosen_folder_arrives_as_a_tree_in_a_new_folder(
    live_server, browser, alice, tmp_path, settings
):
    settings.LOCKER_MAX_FOLDER_DEPTH = 4  # Inbox 1, the visit's folder 2: two levels left
    inbox = make_folder(alice, "Inbox")
    make_folder(alice, "Trip", parent=inbox)  # never written into from outside
    _link, token = upload_link_create(owner=alice, folder=inbox, max_files=5, max_file_size=1000)
    night = tmp_path / "Trip" / "Day 1" / "Night"
    night.mkdir(parents=True)
    (tmp_path / "Trip" / "a.txt").write_bytes(b"a" * 10)
    (tmp_path / "Trip" / "Day 1" / "b.txt").write_bytes(b"b" * 20)
    (tmp_path / "Trip" / "Day 1" / "huge.txt").write_bytes(b"h" * 5000)
    (night / "x.txt").write_bytes(b"x")
    context = browser.new_context()
    posts = []
    try:
        page = context.new_page()
        page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
        page.goto(f"{live_server.url}/r/{token}")
        page.set_input_files("#upload-folder", str(tmp_path / "Trip"))
        rows = page.locator("#upload-results li")
        expect(rows).to_have_count(4)
        deep = rows.filter(has_text="Trip/Day 1/Night/x.txt")
        expect(deep).to_have_class("upload-row failed refused")
        expect(deep.locator(".upload-status")).to_have_text(
            "Not sent: this file is in folders 3 levels deep; this link takes at most 2."
        )
        huge = rows.filter(has_text="Trip/Day 1/huge.txt")
        expect(huge).to_have_class("upload-row failed refused")
        assert posts == []

        page.click("#upload-submit")
        expect(page.locator("#upload-results li.done")).to_have_count(2)
        expect(page.locator("#upload-total-text")).to_have_text("Files sent: 2 of 2 · 30 B of 30 B")
        expect(page.locator("#upload-files-left")).to_have_text("Files still accepted: 3.")
        expect(page.locator("#upload-summary")).to_contain_text(
            "Files received: 2, 30 B in total: Trip/a.txt, Trip/Day 1/b.txt."
        )
        assert len(posts) == 2
    finally:
        context.close()
    visit = Folder.objects.get(parent=inbox, name__startswith="Upload ")
    trip = Folder.objects.get(parent=visit, name="Trip")
    assert File.objects.get(name="a.txt").folder == trip
    assert File.objects.get(name="b.txt").folder == Folder.objects.get(parent=trip, name="Day 1")
    assert (
        not File.objects.filter(folder__parent=inbox, folder__name="Trip")
        .exclude(folder=trip)
        .exists()
    )


DROP_DIRECTORY = """
() => {
  // Playwright cannot drop a real directory: the entries are built with the interface Chromium
  // hands over (as tests/files/test_browser_batch.py does), read back in several batches.
  const file = (name, text) => ({ name, isFile: true, isDirectory: false,
      file: (ok) => ok(new File([text], name, { type: "text/plain" })) });
  const dir = (name, children) => ({
    name, isFile: false, isDirectory: true,
    createReader() {
      const batches = [children.slice(0, 1), children.slice(1), []];
      return { readEntries: (ok) => setTimeout(() => ok(batches.shift() || []), 0) };
    },
  });
  const tree = dir("Dropped", [file("one.txt", "first"), dir("inner", [file("two.txt", "2nd")]),
                               dir("empty", [])]);
  const transfer = new DataTransfer();
  transfer.items.add(new File([""], "Dropped"));
  Object.defineProperty(transfer, "items",
                        { value: [{ kind: "file", webkitGetAsEntry: () => tree }] });
  const drop = new DragEvent("drop", { bubbles: true, cancelable: true, dataTransfer: transfer });
  document.querySelector("h1").dispatchEvent(drop);
  return drop.defaultPrevented;
}
"""


def test_a_dropped_folder_is_taken_with_its_subfolders(live_server, browser, alice):
    inbox = make_folder(alice, "Inbox")
    _link, token = upload_link_create(owner=alice, folder=inbox, max_files=2)
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"{live_server.url}/r/{token}")
        assert page.evaluate(DROP_DIRECTORY) is True
        rows = page.locator("#upload-results li")
        expect(rows).to_have_count(2)  # files only: the empty folder is not sent
        expect(rows.filter(has_text="Dropped/inner/two.txt")).to_have_class("upload-row waiting")
        page.click("#upload-submit")
        expect(page.locator("#upload-results li.done")).to_have_count(2)
        expect(page.locator("#upload-files-left")).to_have_text("This link accepts no more files.")
    finally:
        context.close()
    visit = Folder.objects.get(parent=inbox)
    dropped = Folder.objects.get(parent=visit, name="Dropped")
    assert File.objects.get(name="one.txt").folder == dropped
    assert File.objects.get(name="two.txt").folder.parent == dropped
    assert not Folder.objects.filter(name="empty").exists()
