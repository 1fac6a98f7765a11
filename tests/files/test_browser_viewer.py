"""The in-page viewer, dark mode, the quota bar, undo after a delete and the trash's
"delete for good" and "was in", in a real Chromium against the real server (issue 16)."""

import io
import math
import re
import struct
import wave

import pytest
from playwright.sync_api import expect

from accounts.models import User
from files import services
from files.models import File
from sharing.models import ShareAccess, ShareLink
from sharing.selectors import share_opaque_id
from sharing.services import share_create
from tests.files.test_browser_files import (
    api_folder,
    api_upload,
    choose_action,
    open_listing,
    row,
)
from tests.fixtures.browser import log_in
from tests.workers.media import pdf, png

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TEXT_CAP = 262144  # templates/files/_viewer.html: the first 256 KiB of a text file


def wav(seconds: float = 3.0, rate: int = 8000) -> bytes:
    """A real, playable WAV (a 440 Hz tone), made on the spot."""
    out = io.BytesIO()
    with wave.open(out, "wb") as sound:
        sound.setnchannels(1)
        sound.setsampwidth(2)
        sound.setframerate(rate)
        frames = b"".join(
            struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * n / rate)))
            for n in range(int(seconds * rate))
        )
        sound.writeframes(frames)
    return out.getvalue()


# The start of a WebM (EBML header, DocType "webm"): typed video/webm by its first bytes.
WEBM_HEAD = bytes.fromhex("1a45dfa3") + b"\x9f\x42\x86\x81\x01\x42\xf7\x81\x01\x42\x82\x84webm"


@pytest.fixture
def problems(page):
    seen = []
    page.on("pageerror", lambda error: seen.append(f"pageerror: {error}"))
    page.on(
        "console",
        lambda message: (
            seen.append(f"console: {message.text}")
            if "Content Security Policy" in message.text
            else None
        ),
    )
    return seen


@pytest.fixture
def alice_page(logged_in_page, alice, problems):
    page = logged_in_page(alice)
    yield page
    assert problems == []


def viewer(page):
    return page.locator("#viewer")


def open_by_name(page, name: str):
    page.get_by_role("link", name=name, exact=True).click()
    expect(viewer(page)).to_be_visible()


# --- the viewer, for the owner ----------------------------------------------------------------


def test_clicking_an_image_opens_a_gallery_paged_with_the_arrow_keys(
    alice_page, live_server, alice
):
    ids = {name: api_upload(alice, name, png())["id"] for name in ("a.png", "b.png", "c.png")}
    open_listing(alice_page, live_server)

    open_by_name(alice_page, "a.png")

    image = viewer(alice_page).locator("#viewer-stage img")
    expect(viewer(alice_page).locator("#viewer-title")).to_have_text("a.png")
    expect(image).to_have_attribute("src", f"/api/v1/files/{ids['a.png']}/content/?inline=1")
    expect(viewer(alice_page).locator("#viewer-position")).to_have_text("1 of 3")
    assert image.evaluate("img => img.decode().then(() => img.naturalWidth)") == 48
    download = viewer(alice_page).get_by_role("link", name="Download")
    expect(download).to_have_attribute("href", f"/api/v1/files/{ids['a.png']}/content/")

    alice_page.keyboard.press("ArrowRight")
    expect(viewer(alice_page).locator("#viewer-title")).to_have_text("b.png")
    alice_page.keyboard.press("ArrowRight")
    expect(viewer(alice_page).locator("#viewer-title")).to_have_text("c.png")
    alice_page.keyboard.press("ArrowRight")  # wraps to the first
    expect(viewer(alice_page).locator("#viewer-title")).to_have_text("a.png")
    alice_page.keyboard.press("ArrowLeft")
    expect(viewer(alice_page).locator("#viewer-title")).to_have_text("c.png")
    viewer(alice_page).get_by_role("button", name="Previous file").click()
    expect(viewer(alice_page).locator("#viewer-title")).to_have_text("b.png")
    viewer(alice_page).get_by_role("button", name="Next file").click()
    expect(viewer(alice_page).locator("#viewer-title")).to_have_text("c.png")

    alice_page.keyboard.press("Escape")
    expect(viewer(alice_page)).to_be_hidden()
    # Back on the name that opened it.
    expect(alice_page.get_by_role("link", name="a.png", exact=True)).to_be_focused()


def test_a_pdf_opens_in_the_browsers_own_viewer_inside_the_page(alice_page, live_server, alice):
    file_id = api_upload(alice, "paper.pdf", pdf())["id"]
    open_listing(alice_page, live_server)

    with alice_page.expect_response(lambda r: f"/files/{file_id}/content" in r.url) as answer:
        open_by_name(alice_page, "paper.pdf")

    frame = viewer(alice_page).locator("iframe")
    expect(frame).to_have_attribute("src", f"/api/v1/files/{file_id}/content/?inline=1")
    response = answer.value
    assert response.status == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"].startswith("inline;")
    # Framed by this site only: nothing blocked it (a refused frame is an error page).
    assert response.headers["x-frame-options"] == "SAMEORIGIN"
    assert "frame-ancestors 'self'" in response.headers["content-security-policy"]
    assert any(f"/files/{file_id}/content" in f.url for f in alice_page.frames)


def test_audio_plays_and_seeks_with_range_requests(alice_page, live_server, alice):
    api_upload(alice, "tone.wav", wav())
    requests = []
    alice_page.on("request", lambda r: requests.append(r) if "/content" in r.url else None)
    open_listing(alice_page, live_server)

    open_by_name(alice_page, "tone.wav")

    audio = viewer(alice_page).locator("audio")
    expect(audio).to_have_count(1)
    audio.evaluate(
        "a => new Promise(done => a.readyState >= 1 ? done() : a.onloadedmetadata = done)"
    )
    assert audio.evaluate("a => a.duration") == pytest.approx(3.0, abs=0.05)
    landed = audio.evaluate(
        """a => new Promise(done => {
            a.onseeked = () => done(a.currentTime);
            a.currentTime = 2.5;
        })"""
    )
    assert landed == pytest.approx(2.5, abs=0.05)
    # Seekable because the server answers ranges: the browser asked with Range.
    assert audio.evaluate("a => a.seekable.length && a.seekable.end(0)") == pytest.approx(3.0, 0.05)
    assert any((r.headers.get("range") or "").startswith("bytes=") for r in requests)


def test_a_video_opens_in_a_video_element_streamed_with_ranges(alice_page, live_server, alice):
    file_id = api_upload(alice, "clip.webm", WEBM_HEAD + b"\0" * 5000)["id"]
    assert File.objects.get(name="clip.webm").content_type == "video/webm"
    open_listing(alice_page, live_server)

    with alice_page.expect_response(lambda r: f"/files/{file_id}/content" in r.url) as answer:
        open_by_name(alice_page, "clip.webm")

    video = viewer(alice_page).locator("video")
    expect(video).to_have_attribute("src", f"/api/v1/files/{file_id}/content/?inline=1")
    assert video.evaluate("v => v.controls")
    assert answer.value.request.headers.get("range", "").startswith("bytes=0-")
    assert answer.value.status == 206


def test_a_big_text_file_shows_only_its_beginning_with_a_way_to_download_it_all(
    alice_page, live_server, alice
):
    lines = b"".join(b"line %06d of the log\n" % n for n in range(20000))  # 460,000 bytes
    file_id = api_upload(alice, "big.log.txt", lines)["id"]
    api_upload(alice, "small.txt", "héllo wörld\n".encode())
    open_listing(alice_page, live_server)

    with alice_page.expect_response(lambda r: f"/files/{file_id}/content" in r.url) as answer:
        open_by_name(alice_page, "big.log.txt")

    text = viewer(alice_page).locator("pre.viewer-text")
    expect(text).to_contain_text("line 000000 of the log")
    assert len(text.text_content()) == TEXT_CAP
    assert answer.value.status == 206  # only the first 256 KiB left the server
    assert answer.value.headers["content-range"] == f"bytes 0-{TEXT_CAP - 1}/{len(lines)}"
    note = viewer(alice_page).locator("#viewer-note")
    expect(note).to_have_text(
        "Showing the first 256 KiB of 449 KiB. Download the file to see all of it."
    )
    download = viewer(alice_page).get_by_role("link", name="Download")
    expect(download).to_have_attribute("href", f"/api/v1/files/{file_id}/content/")

    alice_page.keyboard.press("Escape")
    open_by_name(alice_page, "small.txt")
    expect(text).to_have_text("héllo wörld\n")
    expect(note).to_be_hidden()


def test_a_hostile_name_in_the_viewer_is_text(alice_page, live_server, alice):
    hostile = "<img src=x onerror=alert(1)>.txt"
    api_upload(alice, hostile, b"text with <script>alert(2)</script>")
    open_listing(alice_page, live_server)

    open_by_name(alice_page, hostile)

    expect(viewer(alice_page).locator("#viewer-title")).to_have_text(hostile)
    expect(viewer(alice_page).locator("pre")).to_have_text("text with <script>alert(2)</script>")
    assert viewer(alice_page).locator("script, #viewer-title img").count() == 0


# --- the viewer, for share recipients ---------------------------------------------------------


def test_an_anonymous_visitor_views_the_files_of_a_folder_share(
    live_server, browser, alice, problems
):
    folder = api_folder(alice, "Holiday")
    for name in ("one.png", "two.png"):
        api_upload(alice, name, png(), folder=folder)
    api_upload(alice, "notes.txt", b"bring sunscreen\n", folder=folder)
    api_upload(alice, "data.bin", b"\0\1\2\3", folder=folder)  # not viewable: no link
    share, token = share_create(owner=alice, folder=folder)
    context = browser.new_context()
    page = context.new_page()
    page.on("pageerror", lambda error: problems.append(f"pageerror: {error}"))

    page.goto(f"{live_server.url}/s/{token}")
    expect(page.locator("a.share-view")).to_have_count(3)
    page.get_by_role("link", name="notes.txt", exact=True).click()

    dialog = page.locator("#viewer")
    expect(dialog).to_be_visible()
    expect(dialog.locator("pre")).to_have_text("bring sunscreen\n")
    expect(dialog.locator("#viewer-position")).to_have_text("1 of 3")
    download = dialog.get_by_role("link", name="Download")
    expect(download).to_have_attribute("href", re.compile(rf"^/s/{token}/files/[^/]+/download$"))
    page.keyboard.press("ArrowRight")
    expect(dialog.locator("#viewer-title")).to_have_text("one.png")
    image = dialog.locator("img")
    image.evaluate("img => img.decode()")
    assert image.evaluate("img => img.naturalWidth") == 48
    page.keyboard.press("ArrowRight")
    expect(dialog.locator("#viewer-title")).to_have_text("two.png")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(page.get_by_role("link", name="notes.txt", exact=True)).to_be_focused()
    # Viewing is not downloading: nothing was counted or logged as a download.
    share.refresh_from_db()
    assert share.download_count == 0
    assert not ShareAccess.objects.filter(share=share).exists()
    context.close()
    assert problems == []


def test_a_share_with_a_download_limit_offers_no_viewer(live_server, browser, alice):
    folder = api_folder(alice, "Limited")
    image = File.objects.get(public_id=api_upload(alice, "one.png", png(), folder=folder)["id"])
    limited, token = share_create(owner=alice, folder=folder, max_downloads=2)
    context = browser.new_context()
    page = context.new_page()

    page.goto(f"{live_server.url}/s/{token}")

    expect(page.locator("tbody")).to_contain_text("one.png")
    expect(page.locator("a.share-view")).to_have_count(0)
    opaque = share_opaque_id(limited, image)
    assert page.request.get(f"{live_server.url}/s/{token}/files/{opaque}/preview").status == 404
    # The same folder through a link without a limit: its name opens the viewer.
    _share, unlimited = share_create(owner=alice, folder=folder)
    page.goto(f"{live_server.url}/s/{unlimited}")
    page.get_by_role("link", name="one.png", exact=True).click()
    expect(page.locator("#viewer img")).to_have_count(1)
    context.close()


def test_a_file_share_has_a_view_button(live_server, browser, alice):
    file_id = api_upload(alice, "paper.pdf", pdf())["id"]
    _share, token = share_create(owner=alice, file=File.objects.get(public_id=file_id))
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{live_server.url}/s/{token}")

    with page.expect_response(lambda r: r.url.endswith(f"/s/{token}/preview")) as answer:
        page.get_by_role("link", name="View", exact=True).click()

    expect(page.locator("#viewer iframe")).to_have_attribute("src", f"/s/{token}/preview")
    assert answer.value.status == 200
    assert answer.value.headers["x-frame-options"] == "SAMEORIGIN"
    assert any(f.url.endswith(f"/s/{token}/preview") for f in page.frames)
    assert ShareLink.objects.get().download_count == 0
    context.close()


# --- dark mode --------------------------------------------------------------------------------

LIGHT_BG = "rgb(246, 247, 249)"
DARK_BG = "rgb(18, 22, 29)"


def background(page) -> str:
    return page.evaluate("getComputedStyle(document.body).backgroundColor")


def test_the_pages_follow_the_systems_colour_scheme(live_server, browser, alice):
    context = browser.new_context(color_scheme="dark")
    page = context.new_page()
    page.goto(f"{live_server.url}/accounts/login/")
    assert background(page) == DARK_BG
    page.emulate_media(color_scheme="light")
    assert background(page) == LIGHT_BG
    context.close()


def test_the_theme_switch_is_remembered_across_reloads_and_log_ins(
    live_server, browser, logged_in_page, alice
):
    page = logged_in_page(alice)
    page.emulate_media(color_scheme="light")
    page.goto(f"{live_server.url}/")
    # The profile is saved by a PATCH in the background: a reload before it ends would race it.
    with page.expect_response(lambda r: r.request.method == "PATCH" and "/me/" in r.url):
        page.select_option("#theme-switch", "dark")
    assert background(page) == DARK_BG
    page.wait_for_function("document.cookie.includes('locker_theme=dark')")
    expect(page.locator("#theme-switch")).to_have_value("dark")

    page.reload()
    assert background(page) == DARK_BG
    expect(page.locator("#theme-switch")).to_have_value("dark")
    alice.refresh_from_db()
    assert alice.theme == "dark"

    # Another browser (no cookie, a light system): dark as soon as alice logs in.
    other = browser.new_context(color_scheme="light")
    elsewhere = other.new_page()
    elsewhere.goto(f"{live_server.url}/accounts/login/")
    assert background(elsewhere) == LIGHT_BG
    log_in(elsewhere, live_server, alice)
    assert background(elsewhere) == DARK_BG
    other.close()


def test_an_anonymous_visitors_theme_is_drawn_by_the_server_without_a_flash(live_server, browser):
    context = browser.new_context(color_scheme="dark")
    page = context.new_page()
    page.goto(f"{live_server.url}/accounts/login/")
    page.select_option("#theme-switch", "light")
    assert background(page) == LIGHT_BG
    page.wait_for_function("document.cookie.includes('locker_theme=light')")
    cookies = context.cookies()
    context.close()

    # Without any script, the page comes already in the chosen theme (nothing flips it later).
    no_script = browser.new_context(color_scheme="dark", java_script_enabled=False)
    no_script.add_cookies(cookies)
    page = no_script.new_page()
    page.goto(f"{live_server.url}/accounts/login/")
    assert page.evaluate("document.documentElement.dataset.theme") == "light"
    assert background(page) == LIGHT_BG
    no_script.close()


# --- quota, undo, trash -----------------------------------------------------------------------


def test_the_files_page_shows_the_storage_used_against_the_quota(alice_page, live_server, alice):
    User.objects.filter(pk=alice.pk).update(quota_bytes=1024 * 1024)
    api_upload(alice, "quarter.bin", b"q" * (256 * 1024))
    open_listing(alice_page, live_server)

    bar = alice_page.get_by_role("progressbar", name="Storage used")
    expect(bar).to_have_attribute("aria-valuenow", "25")
    expect(bar).to_have_attribute("aria-valuetext", "256 KiB of 1 MiB used")
    expect(alice_page.locator("#quota .quota-text")).to_have_text("256 KiB of 1 MiB used")

    # An upload moves the bar without a reload.
    api_upload(alice, "half.bin", b"h" * (256 * 1024))
    alice_page.get_by_role("button", name="Size").click()
    expect(bar).to_have_attribute("aria-valuenow", "50")

    User.objects.filter(pk=alice.pk).update(quota_bytes=0)
    open_listing(alice_page, live_server)
    expect(alice_page.locator("#quota .quota-text")).to_have_text("512 KiB used (no limit)")
    expect(alice_page.get_by_role("progressbar")).to_have_count(0)


def test_undo_after_a_delete_restores_the_file_from_the_keyboard(alice_page, live_server, alice):
    api_upload(alice, "keep me.txt", b"precious")
    open_listing(alice_page, live_server)

    choose_action(alice_page, "keep me.txt", "Delete")

    expect(row(alice_page, "keep me.txt")).to_have_count(0)
    undo = alice_page.get_by_role("button", name="Undo the deletion of keep me.txt")
    expect(undo).to_be_focused()
    assert File.objects.get(name="keep me.txt").deleted_at is not None
    alice_page.keyboard.press("Enter")

    expect(row(alice_page, "keep me.txt")).to_have_count(1)
    expect(alice_page.locator("#undo-bar")).to_be_hidden()
    expect(alice_page.locator("#page-status")).to_have_text("Restored “keep me.txt”.")
    assert File.objects.get(name="keep me.txt").deleted_at is None
    expect(alice_page.get_by_role("link", name="keep me.txt")).to_be_focused()


def test_the_trash_shows_where_each_item_was_and_deletes_one_for_good(
    alice_page, live_server, alice
):
    photos = api_folder(alice, "Photos")
    year = api_folder(alice, "2024", photos)
    beach = File.objects.get(public_id=api_upload(alice, "beach.png", png(), folder=year)["id"])
    top = File.objects.get(public_id=api_upload(alice, "top.txt", b"top")["id"])
    services.file_trash(file=beach)
    services.file_trash(file=top)
    open_listing(alice_page, live_server, "/trash/")

    beach_row = alice_page.locator("#trash-body tr").filter(has_text="beach.png")
    top_row = alice_page.locator("#trash-body tr").filter(has_text="top.txt")
    expect(beach_row.locator(".col-location")).to_have_text("My files/Photos/2024")
    expect(top_row.locator(".col-location")).to_have_text("My files")

    forget = beach_row.get_by_role("button", name="Delete beach.png for good")
    forget.click()
    dialog = alice_page.locator("#confirm-dialog")
    expect(dialog).to_contain_text("Delete “beach.png” for good? This cannot be undone.")
    dialog.get_by_role("button", name="Cancel").click()
    expect(beach_row).to_have_count(1)
    assert File.objects.filter(pk=beach.pk).exists()

    forget.click()
    dialog.get_by_role("button", name="Delete for good").click()
    expect(beach_row).to_have_count(0)
    expect(alice_page.locator("#page-status")).to_have_text("Deleted “beach.png” for good.")
    expect(top_row).to_have_count(1)
    assert not File.objects.filter(pk=beach.pk).exists()
    assert File.objects.get(pk=top.pk).deleted_at is not None
