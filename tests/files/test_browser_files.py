"""The file pages in a real Chromium against the real API: uploads with progress, folders,
rename/move/delete/restore, sorting, search, and hostile names shown as text."""

import re
import zipfile
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from playwright.sync_api import expect

from files.models import File, Folder
from tests.fixtures.browser import password_of
from tests.fixtures.users import api_client_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

HOSTILE = "<img src=x onerror=alert(1)>.txt"


# --- helpers ----------------------------------------------------------------------------------


def api_upload(user, name: str, data: bytes = b"hello", folder: Folder | None = None) -> dict:
    payload = {"file": SimpleUploadedFile(name, data)}
    if folder is not None:
        payload["folder"] = str(folder.public_id)
    response = api_client_for(user).post("/api/v1/files/", payload, format="multipart")
    assert response.status_code == 201, response.content
    return response.json()


def api_folder(user, name: str, parent: Folder | None = None) -> Folder:
    body = {"name": name, "parent": str(parent.public_id) if parent else None}
    response = api_client_for(user).post("/api/v1/folders/", body, format="json")
    assert response.status_code == 201, response.content
    return Folder.objects.get(public_id=response.json()["id"])


@pytest.fixture
def browser_problems(page):
    """Uncaught script errors, CSP violations and JavaScript dialogs seen during the test."""
    problems = []
    page.on("pageerror", lambda error: problems.append(f"pageerror: {error}"))
    page.on(
        "console",
        lambda message: (
            problems.append(f"console: {message.text}")
            if "Content Security Policy" in message.text
            else None
        ),
    )

    def on_dialog(dialog):
        problems.append(f"dialog: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", on_dialog)
    return problems


@pytest.fixture
def alice_page(logged_in_page, alice, browser_problems):
    page = logged_in_page(alice)
    yield page
    assert browser_problems == []


def open_listing(page, live_server, path: str = "/"):
    page.goto(f"{live_server.url}{path}")
    wait_for_listing(page)


def wait_for_listing(page):
    """The listing (or the trash) has been filled from the API."""
    expect(page.locator("tbody")).to_have_count(1)
    expect(page.locator("tbody[aria-busy]")).to_have_count(0)


def row(page, name: str):
    link = page.get_by_role("link", name=name, exact=True)
    return page.locator("#listing-body tr").filter(has=link)


def names_in_listing(page) -> list[str]:
    return page.locator("#listing-body .item-name").all_text_contents()


def choose_action(page, name: str, action: str):
    item = row(page, name)
    item.locator("summary").click()
    item.get_by_role("button", name=action, exact=True).click()


# --- uploads ----------------------------------------------------------------------------------


def test_uploading_several_files_shows_each_reach_done_and_lists_them(
    alice_page, live_server, alice, tmp_path
):
    paths = []
    for index, size in enumerate([10, 300_000, 2_000_000]):
        path = tmp_path / f"report-{index}.bin"
        path.write_bytes(bytes([index]) * size)
        paths.append(path)
    open_listing(alice_page, live_server)

    alice_page.set_input_files("#upload-input", [str(p) for p in paths])

    rows = alice_page.locator("#upload-list .upload")
    expect(rows).to_have_count(3)
    for index in range(3):
        upload = rows.nth(index)
        expect(upload).to_have_attribute("data-state", "done")
        expect(upload.locator("progress")).to_have_attribute("value", "100")
        expect(upload.locator(".upload-percent")).to_have_text("100 %")
    for path in paths:
        expect(row(alice_page, path.name)).to_have_count(1)
    stored = {f.name: f.size for f in File.objects.filter(owner=alice)}
    assert stored == {"report-0.bin": 10, "report-1.bin": 300_000, "report-2.bin": 2_000_000}


def test_uploading_a_name_that_exists_keeps_both_as_name_1(
    alice_page, live_server, alice, tmp_path
):
    api_upload(alice, "notes.txt", b"first")
    path = tmp_path / "notes.txt"
    path.write_bytes(b"second")
    open_listing(alice_page, live_server)

    alice_page.set_input_files("#upload-input", str(path))

    upload = alice_page.locator("#upload-list .upload")
    expect(upload).to_have_attribute("data-state", "done")
    expect(upload.locator(".upload-status")).to_contain_text("notes (1).txt")
    expect(row(alice_page, "notes (1).txt")).to_have_count(1)
    expect(row(alice_page, "notes.txt")).to_have_count(1)


def test_dropping_files_on_the_page_uploads_them(alice_page, live_server, alice):
    open_listing(alice_page, live_server)
    transfer = alice_page.evaluate_handle(
        """() => {
            const transfer = new DataTransfer();
            transfer.items.add(new File(["dropped one"], "dropped-1.txt", {type: "text/plain"}));
            transfer.items.add(new File(["dropped two"], "dropped-2.txt", {type: "text/plain"}));
            return transfer;
        }"""
    )
    alice_page.dispatch_event("main", "dragenter", {"dataTransfer": transfer})
    expect(alice_page.locator("body")).to_have_class(re.compile(r"\bdragging\b"))
    alice_page.dispatch_event("main", "drop", {"dataTransfer": transfer})

    expect(alice_page.locator("#upload-list .upload[data-state=done]")).to_have_count(2)
    expect(row(alice_page, "dropped-1.txt")).to_have_count(1)
    expect(row(alice_page, "dropped-2.txt")).to_have_count(1)
    expect(alice_page.locator("body")).not_to_have_class(re.compile(r"\bdragging\b"))
    assert File.objects.filter(owner=alice, name__startswith="dropped-").count() == 2


def test_an_upload_over_quota_shows_the_servers_reason(alice_page, live_server, alice, tmp_path):
    alice.quota_bytes = 1000
    alice.save(update_fields=["quota_bytes"])
    path = tmp_path / "big.bin"
    path.write_bytes(b"x" * 50_000)
    open_listing(alice_page, live_server)

    alice_page.set_input_files("#upload-input", str(path))

    upload = alice_page.locator("#upload-list .upload")
    expect(upload).to_have_attribute("data-state", "error")
    expect(upload.locator(".upload-status")).to_contain_text(re.compile("quota", re.I))
    assert not File.objects.filter(owner=alice).exists()


def test_uploads_go_into_the_folder_being_shown(alice_page, live_server, alice, tmp_path):
    inbox = api_folder(alice, "Inbox")
    path = tmp_path / "letter.txt"
    path.write_text("dear alice")
    open_listing(alice_page, live_server, f"/folders/{inbox.public_id}/")

    alice_page.set_input_files("#upload-input", str(path))

    expect(alice_page.locator("#upload-list .upload")).to_have_attribute("data-state", "done")
    expect(row(alice_page, "letter.txt")).to_have_count(1)
    assert File.objects.get(owner=alice, name="letter.txt").folder == inbox


# --- folders and navigation -------------------------------------------------------------------


def test_create_a_folder_go_in_and_come_back_by_the_breadcrumb(alice_page, live_server, alice):
    open_listing(alice_page, live_server)

    alice_page.get_by_role("button", name="New folder").click()
    alice_page.fill("#name-input", "Holidays")
    alice_page.get_by_role("button", name="Create").click()
    expect(alice_page.locator("#name-dialog")).not_to_be_visible()
    alice_page.get_by_role("link", name="Holidays", exact=True).click()

    holidays = Folder.objects.get(owner=alice, name="Holidays")
    expect(alice_page).to_have_url(f"{live_server.url}/folders/{holidays.public_id}/")
    crumbs = alice_page.locator(".browser-head .breadcrumb li")
    expect(crumbs).to_have_text(["My files", "Holidays"])
    wait_for_listing(alice_page)

    alice_page.get_by_role("button", name="New folder").click()
    alice_page.fill("#name-input", "Beach")
    alice_page.keyboard.press("Enter")
    alice_page.get_by_role("link", name="Beach", exact=True).click()
    expect(crumbs).to_have_text(["My files", "Holidays", "Beach"])

    alice_page.locator(".browser-head .breadcrumb").get_by_role("link", name="Holidays").click()
    expect(alice_page).to_have_url(f"{live_server.url}/folders/{holidays.public_id}/")
    alice_page.locator(".browser-head .breadcrumb").get_by_role("link", name="My files").click()
    expect(alice_page).to_have_url(f"{live_server.url}/")
    wait_for_listing(alice_page)
    expect(row(alice_page, "Holidays")).to_have_count(1)


def test_a_taken_folder_name_is_refused_next_to_the_field(alice_page, live_server, alice):
    api_folder(alice, "Taxes")
    open_listing(alice_page, live_server)

    alice_page.get_by_role("button", name="New folder").click()
    alice_page.fill("#name-input", "taxes")
    alice_page.get_by_role("button", name="Create").click()

    error = alice_page.locator("#name-error")
    expect(error).to_be_visible()
    expect(error).not_to_be_empty()
    expect(alice_page.locator("#name-input")).to_have_attribute("aria-invalid", "true")
    expect(alice_page.locator("#name-dialog")).to_be_visible()

    alice_page.fill("#name-input", "a/b")
    alice_page.get_by_role("button", name="Create").click()
    expect(error).to_contain_text("/")
    assert Folder.objects.filter(owner=alice, parent__isnull=False).count() == 1


def test_a_folder_past_the_depth_cap_is_refused_next_to_the_field(
    alice_page, live_server, alice, settings
):
    settings.LOCKER_MAX_FOLDER_DEPTH = 2
    inner = api_folder(alice, "Inner", parent=api_folder(alice, "Top"))
    open_listing(alice_page, live_server, f"/folders/{inner.public_id}/")

    alice_page.get_by_role("button", name="New folder").click()
    alice_page.fill("#name-input", "Too deep")
    alice_page.get_by_role("button", name="Create").click()

    expect(alice_page.locator("#name-error")).to_contain_text("at most 2 levels")
    expect(alice_page.locator("#name-input")).to_have_attribute("aria-invalid", "true")
    expect(alice_page.locator("#name-dialog")).to_be_visible()
    assert not Folder.objects.filter(name="Too deep").exists()


# --- rename, move, delete, restore ------------------------------------------------------------


def test_rename_shows_a_conflict_next_to_the_field_then_renames(alice_page, live_server, alice):
    api_upload(alice, "draft.txt")
    api_upload(alice, "final.txt")
    open_listing(alice_page, live_server)

    choose_action(alice_page, "draft.txt", "Rename")
    expect(alice_page.locator("#name-input")).to_have_value("draft.txt")
    alice_page.fill("#name-input", "final.txt")
    alice_page.locator("#name-dialog").get_by_role("button", name="Rename").click()

    error = alice_page.locator("#name-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("final.txt")
    expect(alice_page.locator("#name-dialog")).to_be_visible()

    alice_page.fill("#name-input", "draft v2.txt")
    alice_page.locator("#name-dialog").get_by_role("button", name="Rename").click()
    expect(alice_page.locator("#name-dialog")).not_to_be_visible()
    expect(row(alice_page, "draft v2.txt")).to_have_count(1)
    expect(row(alice_page, "draft.txt")).to_have_count(0)
    assert File.objects.filter(owner=alice, name="draft v2.txt").exists()


def test_rename_a_folder(alice_page, live_server, alice):
    folder = api_folder(alice, "Old name")
    open_listing(alice_page, live_server)

    choose_action(alice_page, "Old name", "Rename")
    alice_page.fill("#name-input", "New name")
    alice_page.locator("#name-dialog").get_by_role("button", name="Rename").click()

    expect(row(alice_page, "New name")).to_have_count(1)
    folder.refresh_from_db()
    assert folder.name == "New name"


def test_move_a_file_into_a_folder(alice_page, live_server, alice):
    archive = api_folder(alice, "Archive")
    api_folder(alice, "2024", parent=archive)
    api_upload(alice, "invoice.pdf", b"%PDF-1.4 not really")
    open_listing(alice_page, live_server)

    choose_action(alice_page, "invoice.pdf", "Move")
    dialog = alice_page.locator("#move-dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Archive", exact=True).click()
    dialog.get_by_role("button", name="2024", exact=True).click()
    expect(dialog.locator(".breadcrumb li")).to_have_text(["My files", "Archive", "2024"])
    dialog.get_by_role("button", name="Archive", exact=True).click()  # back up one level
    expect(dialog.locator(".breadcrumb li")).to_have_text(["My files", "Archive"])
    dialog.get_by_role("button", name="Move here").click()

    expect(dialog).not_to_be_visible()
    expect(row(alice_page, "invoice.pdf")).to_have_count(0)
    assert File.objects.get(owner=alice, name="invoice.pdf").folder == archive

    alice_page.get_by_role("link", name="Archive", exact=True).click()
    wait_for_listing(alice_page)
    expect(row(alice_page, "invoice.pdf")).to_have_count(1)


def test_a_folder_cannot_be_moved_into_itself_from_the_dialog(alice_page, live_server, alice):
    api_folder(alice, "Projects")
    api_folder(alice, "Other")
    open_listing(alice_page, live_server)

    choose_action(alice_page, "Projects", "Move")
    choices = alice_page.locator("#move-folders .folder-choice")
    expect(choices).to_have_text(["Other"])


def test_delete_puts_a_file_in_the_trash_and_restore_brings_it_back(alice_page, live_server, alice):
    photos = api_folder(alice, "Photos")
    api_upload(alice, "cat.jpg", b"\xff\xd8\xff\xe0 not a real jpeg", folder=photos)
    open_listing(alice_page, live_server, f"/folders/{photos.public_id}/")

    choose_action(alice_page, "cat.jpg", "Delete")
    expect(row(alice_page, "cat.jpg")).to_have_count(0)
    expect(alice_page.locator("#undo-bar")).to_contain_text("cat.jpg")
    assert File.objects.get(owner=alice, name="cat.jpg").deleted_at is not None

    alice_page.get_by_role("link", name="Trash", exact=True).click()
    expect(alice_page).to_have_url(f"{live_server.url}/trash/")
    trashed = alice_page.locator("#trash-body tr").filter(has_text="cat.jpg")
    expect(trashed).to_have_count(1)
    trashed.get_by_role("button", name="Restore").click()
    expect(trashed).to_have_count(0)
    expect(alice_page.locator("#trash-body")).to_contain_text("The trash is empty.")

    open_listing(alice_page, live_server, f"/folders/{photos.public_id}/")
    expect(row(alice_page, "cat.jpg")).to_have_count(1)
    assert File.objects.get(owner=alice, name="cat.jpg").deleted_at is None


def test_deleting_a_folder_and_emptying_the_trash_after_confirming(alice_page, live_server, alice):
    old = api_folder(alice, "Old stuff")
    api_upload(alice, "junk.txt", folder=old)
    open_listing(alice_page, live_server)

    choose_action(alice_page, "Old stuff", "Delete")
    expect(row(alice_page, "Old stuff")).to_have_count(0)

    open_listing(alice_page, live_server, "/trash/")
    expect(alice_page.locator("#trash-body tr").filter(has_text="Old stuff")).to_have_count(1)
    alice_page.get_by_role("button", name="Empty trash").click()
    confirm = alice_page.locator("#confirm-dialog")
    expect(confirm).to_be_visible()
    confirm.get_by_role("button", name="Cancel").click()
    expect(alice_page.locator("#trash-body tr").filter(has_text="Old stuff")).to_have_count(1)

    alice_page.get_by_role("button", name="Empty trash").click()
    confirm.get_by_role("button", name="Empty trash").click()
    expect(alice_page.locator("#trash-body")).to_contain_text("The trash is empty.")
    assert not Folder.objects.filter(owner=alice, name="Old stuff").exists()
    assert not File.objects.filter(owner=alice).exists()


def test_a_trash_emptied_on_in_the_background_says_so(
    alice_page, live_server, alice, settings, eager_celery
):
    settings.LOCKER_JOB_BATCH_SIZE = 1
    settings.LOCKER_TRASH_EMPTY_REQUEST_BUDGET = 0  # one file in the request, then a task
    for name in ("one.txt", "two.txt", "three.txt"):
        api_client_for(alice).delete(f"/api/v1/files/{api_upload(alice, name)['id']}/")
    open_listing(alice_page, live_server, "/trash/")
    alice_page.get_by_role("button", name="Empty trash").click()
    alice_page.locator("#confirm-dialog").get_by_role("button", name="Empty trash").click()
    expect(alice_page.locator("#page-status")).to_contain_text(
        "The rest of the trash is being emptied in the background."
    )
    expect(alice_page.locator("#trash-body")).to_contain_text("The trash is empty.")
    assert not File.objects.filter(owner=alice).exists()


# --- listing: sorting, pages, search ----------------------------------------------------------


def test_sorting_by_clicking_column_headers(alice_page, live_server, alice):
    api_upload(alice, "b-medium.txt", b"m" * 2000)
    api_upload(alice, "a-large.txt", b"l" * 30000)
    api_upload(alice, "c-small.txt", b"s")
    open_listing(alice_page, live_server)
    assert names_in_listing(alice_page) == ["a-large.txt", "b-medium.txt", "c-small.txt"]

    alice_page.get_by_role("button", name="Size").click()
    expect(alice_page.locator("#listing-body .item-name")).to_have_text(
        ["c-small.txt", "b-medium.txt", "a-large.txt"]
    )
    expect(alice_page.locator("th[data-sort=size]")).to_have_attribute("aria-sort", "ascending")
    alice_page.get_by_role("button", name="Size").click()
    expect(alice_page.locator("#listing-body .item-name")).to_have_text(
        ["a-large.txt", "b-medium.txt", "c-small.txt"]
    )
    expect(alice_page.locator("th[data-sort=size]")).to_have_attribute("aria-sort", "descending")
    expect(row(alice_page, "a-large.txt").locator(".col-size")).to_have_text("29.3 KiB")

    alice_page.get_by_role("button", name="Name").click()
    expect(alice_page.locator("#listing-body .item-name")).to_have_text(
        ["a-large.txt", "b-medium.txt", "c-small.txt"]
    )
    alice_page.get_by_role("button", name="Name").click()
    expect(alice_page.locator("#listing-body .item-name")).to_have_text(
        ["c-small.txt", "b-medium.txt", "a-large.txt"]
    )
    # The ordering survives a reload.
    alice_page.reload()
    wait_for_listing(alice_page)
    assert names_in_listing(alice_page) == ["c-small.txt", "b-medium.txt", "a-large.txt"]


def test_next_and_previous_pages(alice_page, live_server, alice):
    for index in range(52):
        api_upload(alice, f"file-{index:02}.txt", b"x")
    open_listing(alice_page, live_server)

    expect(alice_page.locator("#listing-body .item-name")).to_have_count(50)
    expect(alice_page.locator("#page-info")).to_contain_text("52")
    expect(alice_page.get_by_role("button", name="Previous")).to_be_disabled()
    alice_page.get_by_role("button", name="Next").click()
    expect(alice_page.locator("#listing-body .item-name")).to_have_text(
        ["file-50.txt", "file-51.txt"]
    )
    expect(alice_page.get_by_role("button", name="Next")).to_be_disabled()
    alice_page.get_by_role("button", name="Previous").click()
    expect(alice_page.locator("#listing-body .item-name")).to_have_count(50)


def test_search_finds_files_in_any_folder_and_links_to_their_folder(
    alice_page, live_server, alice, bob
):
    deep = api_folder(alice, "Deep", parent=api_folder(alice, "Work"))
    api_upload(alice, "Budget 2025.xlsx", folder=deep)
    api_upload(alice, "holiday.txt")
    api_upload(bob, "bob budget.txt")
    open_listing(alice_page, live_server)

    alice_page.fill("#search-q", "budget")
    alice_page.keyboard.press("Enter")
    expect(alice_page).to_have_url(re.compile(r"/search/\?q=budget"))
    wait_for_listing(alice_page)
    expect(alice_page.locator("#listing-body .item-name")).to_have_text(["Budget 2025.xlsx"])

    item = row(alice_page, "Budget 2025.xlsx")
    item.locator("summary").click()
    item.get_by_role("link", name="Show in folder").click()
    expect(alice_page).to_have_url(f"{live_server.url}/folders/{deep.public_id}/")


def test_download_links_serve_the_content(alice_page, live_server, alice):
    api_upload(alice, "hello.txt", b"hello from the locker")
    open_listing(alice_page, live_server)

    # The name opens the viewer (tests/files/test_browser_viewer.py); Download is in the menu
    # and in the viewer's bar.
    item = row(alice_page, "hello.txt")
    item.locator("summary").click()
    with alice_page.expect_download() as download_info:
        item.get_by_role("link", name="Download", exact=True).click()
    download = download_info.value
    assert download.suggested_filename == "hello.txt"
    assert Path(download.path()).read_bytes() == b"hello from the locker"

    item.get_by_role("link", name="hello.txt").click()
    with alice_page.expect_download() as download_info:
        alice_page.locator("#viewer").get_by_role("link", name="Download").click()
    assert Path(download_info.value.path()).read_bytes() == b"hello from the locker"


def test_a_folder_downloads_as_a_zip(alice_page, live_server, alice):
    album = api_folder(alice, "Album")
    api_upload(alice, "one.txt", b"first", folder=album)
    api_upload(alice, "two.txt", b"second", folder=album)
    open_listing(alice_page, live_server)

    item = row(alice_page, "Album")
    item.locator("summary").click()
    with alice_page.expect_download() as download_info:
        item.get_by_role("link", name="Download as ZIP").click()
    with zipfile.ZipFile(download_info.value.path()) as archive:
        contents = {name: archive.read(name) for name in archive.namelist()}
    assert {name.rsplit("/", 1)[-1]: data for name, data in contents.items()} == {
        "one.txt": b"first",
        "two.txt": b"second",
    }


def test_an_ended_session_leads_to_the_login_page_and_back(alice_page, live_server, alice):
    folder = api_folder(alice, "Reports")
    open_listing(alice_page, live_server, f"/folders/{folder.public_id}/")
    alice_page.context.clear_cookies()

    alice_page.get_by_role("button", name="Size").click()

    expect(alice_page).to_have_url(re.compile(r"/accounts/login/\?next="))
    alice_page.fill("#id_username", "alice")
    alice_page.fill("#id_password", password_of(alice))
    alice_page.click("#login-form button[type=submit]")
    expect(alice_page).to_have_url(re.compile(rf"/folders/{folder.public_id}/"))


def test_an_ended_session_still_leads_to_the_login_page_after_a_download(
    alice_page, live_server, alice
):
    """A download link starts a navigation that leaves the page in place: the page must not
    stay convinced it is leaving and swallow the next 401."""
    api_upload(alice, "notes.txt", b"some notes")
    open_listing(alice_page, live_server)
    item = row(alice_page, "notes.txt")
    item.locator("summary").click()
    with alice_page.expect_download():
        item.locator(".action-download").click()
    alice_page.context.clear_cookies()

    alice_page.get_by_role("button", name="Size").click()

    expect(alice_page).to_have_url(re.compile(r"/accounts/login/\?next="), timeout=10_000)


# --- hostile names and small screens ----------------------------------------------------------


def test_a_hostile_file_name_is_shown_as_text_everywhere(alice_page, live_server, alice):
    api_upload(alice, HOSTILE, b"harmless")
    api_folder(alice, "<b onmouseover=alert(2)>bold")
    open_listing(alice_page, live_server)

    expect(row(alice_page, HOSTILE)).to_have_count(1)
    expect(row(alice_page, "<b onmouseover=alert(2)>bold")).to_have_count(1)
    assert alice_page.locator("#listing-body img, #listing-body b").count() == 0

    choose_action(alice_page, HOSTILE, "Rename")
    expect(alice_page.locator("#name-dialog-title")).to_have_text(f"Rename “{HOSTILE}”")
    alice_page.locator("#name-dialog").get_by_role("button", name="Cancel").click()

    choose_action(alice_page, HOSTILE, "Delete")
    expect(alice_page.locator("#undo-message")).to_contain_text(HOSTILE)
    open_listing(alice_page, live_server, "/trash/")
    expect(alice_page.locator("#trash-body .item-name")).to_have_text([HOSTILE])

    open_listing(alice_page, live_server, "/search/?q=" + "%3Cb")
    expect(alice_page.locator("h1")).to_have_text("Search results for “<b”")
    expect(row(alice_page, "<b onmouseover=alert(2)>bold")).to_have_count(1)
    assert alice_page.locator("main img, main b").count() == 0
    # alice_page's teardown asserts that no alert() dialog fired and no script error happened.


def test_the_pages_fit_a_phone_without_sideways_scrolling(alice_page, live_server, alice):
    long_name = "a-really-long-file-name-" + "x" * 120 + ".txt"
    api_upload(alice, long_name)
    api_folder(alice, "Folder with a long name " + "y" * 80)
    trashed = api_upload(alice, "trashed-" + "z" * 120 + ".txt")
    api_client_for(alice).delete(f"/api/v1/files/{trashed['id']}/")
    alice_page.set_viewport_size({"width": 360, "height": 740})

    for path in ["/", "/search/?q=really", "/trash/"]:
        open_listing(alice_page, live_server, path)
        expect(alice_page.locator("tbody tr:not(.listing-message)")).not_to_have_count(0)
        overflow = alice_page.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, path


# --- sharing from the file browser ------------------------------------------------------------


def test_share_button_in_the_file_browser_creates_a_link_that_serves_the_file(
    alice_page, live_server, alice, browser
):
    from sharing.models import ShareLink

    api_upload(alice, "plan.txt", b"the plan")
    open_listing(alice_page, live_server)

    choose_action(alice_page, "plan.txt", "Share")
    alice_page.fill("#share-dialog-label", "for Bob")
    alice_page.click("#share-dialog-create")
    expect(alice_page.locator("#share-dialog-url")).to_have_count(1)
    url = alice_page.input_value("#share-dialog-url")

    share = ShareLink.objects.get()
    assert share.file.name == "plan.txt" and share.label == "for Bob"
    context = browser.new_context()
    try:
        visitor = context.new_page()
        visitor.goto(url.replace("http://127.0.0.1:8000", live_server.url))
        expect(visitor.get_by_text("plan.txt").first).to_be_visible()
    finally:
        context.close()


def test_folder_menu_offers_an_upload_link(alice_page, live_server, alice):
    inbox = api_folder(alice, "Inbox")
    open_listing(alice_page, live_server)

    item = row(alice_page, "Inbox")
    item.locator("summary").click()
    item.get_by_role("link", name="Upload link", exact=True).click()

    expect(alice_page).to_have_url(re.compile(rf"/shares/uploads/new\?folder={inbox.public_id}$"))
