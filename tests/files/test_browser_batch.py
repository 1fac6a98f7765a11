"""Several items at once on the Files page, in a real Chromium against the real API: select
(checkboxes, shift-click ranges, select all), then delete, move, download one ZIP or share one
link; and whole folders uploaded through the folder chooser or dropped."""

import zipfile
from pathlib import Path

import pytest
from playwright.sync_api import expect

from files.models import File, Folder
from tests.files import test_browser_files as base
from tests.files.test_browser_files import (
    api_folder,
    api_upload,
    open_listing,
    row,
    wait_for_listing,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

browser_problems = base.browser_problems
alice_page = base.alice_page


def check(page, name: str, **click):
    row(page, name).locator("input.item-select").click(**click)


def selected_names(page) -> list[str]:
    return page.locator(
        "#listing-body tr:has(input.item-select:checked) .item-name"
    ).all_text_contents()


def five_files(alice, folder=None):
    for n in range(1, 6):
        api_upload(alice, f"file-{n}.txt", f"content {n}".encode(), folder=folder)


def test_shift_click_selects_a_range_and_select_all_the_page(alice_page, live_server, alice):
    five_files(alice)
    open_listing(alice_page, live_server)
    expect(alice_page.locator("#selection-bar")).to_be_hidden()

    check(alice_page, "file-2.txt")
    check(alice_page, "file-4.txt", modifiers=["Shift"])
    assert selected_names(alice_page) == ["file-2.txt", "file-3.txt", "file-4.txt"]
    expect(alice_page.locator("#selection-count")).to_have_text("3 items selected")
    expect(alice_page.locator("#select-all")).to_have_js_property("indeterminate", True)

    # A shift-click on a checked box clears the range back to the anchor.
    check(alice_page, "file-3.txt", modifiers=["Shift"])
    assert selected_names(alice_page) == ["file-2.txt"]

    alice_page.check("#select-all")
    assert len(selected_names(alice_page)) == 5
    expect(alice_page.locator("#selection-count")).to_have_text("5 items selected")
    alice_page.click("#batch-clear")
    assert selected_names(alice_page) == []
    expect(alice_page.locator("#selection-bar")).to_be_hidden()


def test_selecting_works_in_the_grid_view_too(alice_page, live_server, alice):
    five_files(alice)
    open_listing(alice_page, live_server)
    alice_page.click("#view-toggle")
    check(alice_page, "file-1.txt")
    check(alice_page, "file-5.txt", modifiers=["Shift"])
    expect(alice_page.locator("#selection-count")).to_have_text("5 items selected")


def test_batch_delete_moves_the_selected_items_to_the_trash(alice_page, live_server, alice):
    five_files(alice)
    album = api_folder(alice, "Album")
    api_upload(alice, "inside.txt", b"x", folder=album)
    open_listing(alice_page, live_server)

    check(alice_page, "Album")
    check(alice_page, "file-1.txt")
    check(alice_page, "file-3.txt")
    alice_page.click("#batch-delete")
    expect(alice_page.locator("#confirm-message")).to_contain_text("3")
    alice_page.click("#confirm-dialog button[type=submit]")

    expect(alice_page.locator("#page-status")).to_have_text("Moved 3 items to the trash.")
    wait_for_listing(alice_page)
    expect(alice_page.locator("#listing-body .item-name")).to_have_text(
        ["file-2.txt", "file-4.txt", "file-5.txt"]
    )
    assert set(File.objects.filter(owner=alice).alive().values_list("name", flat=True)) == {
        "file-2.txt",
        "file-4.txt",
        "file-5.txt",
    }
    assert Folder.objects.get(pk=album.pk).deleted_at is not None


def test_batch_move_moves_the_selection_into_the_chosen_folder(alice_page, live_server, alice):
    five_files(alice)
    target = api_folder(alice, "Archive")
    moving = api_folder(alice, "Old")
    open_listing(alice_page, live_server)

    check(alice_page, "Old")
    check(alice_page, "file-1.txt")
    check(alice_page, "file-2.txt")
    alice_page.click("#batch-move")
    dialog = alice_page.locator("#move-dialog")
    expect(dialog.locator(".folder-choice")).to_have_text(["Archive"])  # "Old" itself is hidden
    dialog.get_by_role("button", name="Archive", exact=True).click()
    expect(dialog.locator("[aria-current=location]")).to_have_text("Archive")
    dialog.get_by_role("button", name="Move here").click()

    expect(alice_page.locator("#page-status")).to_have_text("Moved 3 items.")
    wait_for_listing(alice_page)
    expect(alice_page.locator("#listing-body .item-name")).to_have_text(
        ["Archive", "file-3.txt", "file-4.txt", "file-5.txt"]
    )
    assert set(File.objects.filter(folder=target).values_list("name", flat=True)) == {
        "file-1.txt",
        "file-2.txt",
    }
    assert Folder.objects.get(pk=moving.pk).parent_id == target.pk


def test_batch_move_hides_selected_folders_and_refuses_where_they_are(
    alice_page, live_server, alice
):
    outer = api_folder(alice, "Outer")
    api_folder(alice, "Inner", parent=outer)
    api_upload(alice, "loose.txt", b"x")
    open_listing(alice_page, live_server)

    check(alice_page, "Outer")
    check(alice_page, "loose.txt")
    alice_page.click("#batch-move")
    dialog = alice_page.locator("#move-dialog")
    # A selected folder is no destination: it is not offered (the API refuses it too).
    expect(dialog.locator("#move-folders")).to_contain_text("No folders here.")
    dialog.get_by_role("button", name="Move here").click()  # "My files": where they are
    expect(dialog.locator("#move-error")).to_contain_text("already in this folder")
    dialog.get_by_role("button", name="Cancel").click()
    assert Folder.objects.get(pk=outer.pk).parent.parent_id is None


def test_batch_download_is_one_zip_of_the_selection(alice_page, live_server, alice):
    five_files(alice)
    album = api_folder(alice, "Album")
    api_upload(alice, "photo.bin", bytes(range(256)) * 40, folder=api_folder(alice, "2026", album))
    open_listing(alice_page, live_server)

    check(alice_page, "Album")
    check(alice_page, "file-2.txt")
    check(alice_page, "file-5.txt")
    with alice_page.expect_download() as download_info:
        alice_page.click("#batch-download")
    download = download_info.value
    assert download.suggested_filename == "files.zip"
    with zipfile.ZipFile(download.path()) as archive:
        contents = {name: archive.read(name) for name in archive.namelist()}
    assert contents == {
        "file-2.txt": b"content 2",
        "file-5.txt": b"content 5",
        "Album/2026/photo.bin": bytes(range(256)) * 40,
    }
    # The page stayed where it was.
    expect(alice_page.locator("#selection-count")).to_have_text("3 items selected")


def test_selection_share_is_one_link_a_visitor_downloads_each_item_from(
    alice_page, live_server, alice, browser, tmp_path
):
    from sharing.models import ShareLink

    five_files(alice)
    open_listing(alice_page, live_server)
    check(alice_page, "file-1.txt")
    check(alice_page, "file-3.txt", modifiers=["Shift"])
    alice_page.click("#batch-share")
    alice_page.fill("#share-dialog-label", "three files")
    alice_page.click("#share-dialog-create")
    expect(alice_page.locator("#share-dialog-url")).to_have_count(1)
    url = alice_page.input_value("#share-dialog-url")
    share = ShareLink.objects.get()
    assert share.is_selection and share.items.count() == 3

    context = browser.new_context(accept_downloads=True)
    try:
        visitor = context.new_page()
        visitor.goto(url.replace("http://127.0.0.1:8000", live_server.url))
        expect(visitor.locator("h1")).to_have_text("three files")
        expect(visitor.locator(".share-entry")).to_have_count(3)
        assert "file-4.txt" not in visitor.content()
        for n in (1, 2, 3):
            entry = visitor.locator(".share-entry").filter(has_text=f"file-{n}.txt")
            with visitor.expect_download() as info:
                entry.get_by_role("link", name="Download").click()
            assert Path(info.value.path()).read_bytes() == f"content {n}".encode()
        with visitor.expect_download() as info:
            visitor.click("#share-download-button")
        with zipfile.ZipFile(info.value.path()) as archive:
            assert sorted(archive.namelist()) == ["file-1.txt", "file-2.txt", "file-3.txt"]
    finally:
        context.close()


def _tree(tmp_path) -> Path:
    top = tmp_path / "Trip"
    (top / "Day 1").mkdir(parents=True)
    (top / "Day 2" / "evening").mkdir(parents=True)
    (top / "notes.txt").write_bytes(b"top notes")
    (top / "Day 1" / "a.txt").write_bytes(b"day one")
    (top / "Day 2" / "evening" / "b.bin").write_bytes(bytes(range(256)) * 300)
    return top


def test_folder_chooser_recreates_the_tree_with_progress(alice_page, live_server, alice, tmp_path):
    existing = api_folder(alice, "trip")  # reused, whatever its case
    api_upload(alice, "notes.txt", b"older", folder=existing)
    top = _tree(tmp_path)
    open_listing(alice_page, live_server)

    alice_page.set_input_files("#upload-folder-input", str(top))

    rows = alice_page.locator("#upload-list .upload")
    expect(rows).to_have_count(3)
    for index in range(3):
        expect(rows.nth(index)).to_have_attribute("data-state", "done")
    expect(alice_page.locator("#upload-list")).to_contain_text("Trip/Day 2/evening/b.bin")
    expect(alice_page.locator("#upload-total-bar")).to_have_attribute("value", "100")
    expect(alice_page.locator("#upload-total-text")).to_contain_text("3 of 3 files")

    assert Folder.objects.filter(owner=alice, name_key="trip").count() == 1
    day1 = Folder.objects.get(owner=alice, name="Day 1", parent=existing)
    evening = Folder.objects.get(owner=alice, name="evening", parent__parent=existing)
    assert File.objects.get(folder=day1).name == "a.txt"
    assert File.objects.get(folder=evening).size == 256 * 300
    # The name taken in the reused folder is handled as a single upload does.
    assert sorted(File.objects.filter(folder=existing).values_list("name", flat=True)) == [
        "notes (1).txt",
        "notes.txt",
    ]


DROP_DIRECTORY = """
async () => {
  // Chromium hands a dropped directory over as DataTransferItem.webkitGetAsEntry() entries;
  // Playwright cannot drop a real directory, so the entries are built here with the same
  // interface (name, isFile/isDirectory, file(), createReader().readEntries() in batches).
  const file = (path, text) => {
    const name = path.split("/").pop();
    return { name, isFile: true, isDirectory: false,
             file: (ok) => ok(new File([text], name, { type: "text/plain" })) };
  };
  const dir = (name, children) => ({
    name, isFile: false, isDirectory: true,
    createReader() {
      let batches = [children.slice(0, 1), children.slice(1), []];
      return { readEntries: (ok) => setTimeout(() => ok(batches.shift() || []), 0) };
    },
  });
  const tree = dir("Dropped", [
    file("one.txt", "first"),
    dir("inner", [file("two.txt", "second")]),
    dir("empty", []),
  ]);
  const transfer = new DataTransfer();
  transfer.items.add(new File([""], "Dropped"));
  const items = [{ kind: "file", webkitGetAsEntry: () => tree }];
  Object.defineProperty(transfer, "items", { value: items });
  const event = new DragEvent("drop", { bubbles: true, cancelable: true, dataTransfer: transfer });
  document.querySelector("main").dispatchEvent(event);
}
"""


def test_dropping_a_directory_recreates_it_with_its_empty_folders(alice_page, live_server, alice):
    open_listing(alice_page, live_server)
    alice_page.evaluate(DROP_DIRECTORY)

    rows = alice_page.locator("#upload-list .upload")
    expect(rows).to_have_count(2)
    for index in range(2):
        expect(rows.nth(index)).to_have_attribute("data-state", "done")
    expect(row(alice_page, "Dropped")).to_have_count(1)
    dropped = Folder.objects.get(owner=alice, name="Dropped")
    assert File.objects.get(folder=dropped).name == "one.txt"
    inner = Folder.objects.get(parent=dropped, name="inner")
    assert File.objects.get(folder=inner).name == "two.txt"
    assert Folder.objects.filter(parent=dropped, name="empty").exists()


def test_on_a_phone_the_selection_bar_fits_without_sideways_scrolling(
    alice_page, live_server, alice
):
    five_files(alice)
    alice_page.set_viewport_size({"width": 390, "height": 844})
    open_listing(alice_page, live_server)
    alice_page.check("#select-all")
    expect(alice_page.locator("#selection-count")).to_have_text("5 items selected")
    for button in ("#batch-download", "#batch-share", "#batch-move", "#batch-delete"):
        expect(alice_page.locator(button)).to_be_in_viewport()
    assert alice_page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
