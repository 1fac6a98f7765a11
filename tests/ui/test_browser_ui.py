"""Issue 16, defects 5, 6, 8, 10, 11 and 12 in a real Chromium: phone layout, keyboard use, edit
forms, audit labels, one unit and date style, and the small things a person notices."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from playwright.sync_api import expect

from sharing.models import ShareLink, UploadLink
from sharing.services import share_create
from sharing.upload_links import upload_link_create
from tests.sharing.conftest import make_folder, store_file
from tests.ui.conftest import PHONE

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def wait_for_page(page):
    page.wait_for_function("() => !document.querySelector('tbody[aria-busy]')")


def go(page, live_server, path: str):
    page.goto(f"{live_server.url}{path}")
    wait_for_page(page)


# --- defect 5: phones ---------------------------------------------------------------------------


@pytest.mark.parametrize("width", [390, 540, 768])
def test_no_page_scrolls_sideways_at_phone_and_tablet_widths(
    logged_in_page, live_server, populated, width
):
    page = logged_in_page(populated.user)
    page.set_viewport_size({"width": width, "height": 900})
    wide = {}
    for name, path in {**populated.owner_pages, **populated.public_pages}.items():
        go(page, live_server, path)
        scroll, inner = page.evaluate(
            "() => [document.scrollingElement.scrollWidth, window.innerWidth]"
        )
        if scroll > inner:
            wide[name] = scroll - inner
    assert wide == {}


def test_a_folder_share_on_a_phone_breaks_no_word_inside(browser, live_server, alice):
    folder = make_folder(alice, "Photos of the long weekend trip " + "x" * 40)
    store_file(
        alice,
        "a-very-long-file-name-from-a-camera-" + "9" * 40 + ".jpg",
        b"j" * 22528,
        folder=folder,
    )
    _, token = share_create(owner=alice, folder=folder)
    context = browser.new_context(viewport=PHONE)
    try:
        page = context.new_page()
        page.goto(f"{live_server.url}/s/{token}")
        # Each size and each "Download" link is drawn on one line ("Downl|oad", "22.0 K|B").
        lines = page.evaluate(
            """() => [...document.querySelectorAll('.share-listing td, .share-listing td a')]
                .filter((el) => /^(Download|[\\d.,]+\\s\\S*B)$/.test(el.textContent.trim()))
                .map((el) => { const r = document.createRange(); r.selectNodeContents(el);
                  const tops = new Set([...r.getClientRects()].map((x) => Math.round(x.top)));
                  return [el.textContent.trim().replace(/\\s/, ' '), tops.size]; })"""
        )
        texts = [text for text, _ in lines]
        assert "Download" in texts and any(text.endswith("B") for text in texts), texts
        assert all(count == 1 for _, count in lines), lines
    finally:
        context.close()


# --- defect 6: keyboard -------------------------------------------------------------------------


def test_closing_a_menu_or_a_dialog_gives_focus_back_to_its_button(
    logged_in_page, live_server, alice
):
    store_file(alice, "plan.txt", b"the plan")
    page = logged_in_page(alice)
    go(page, live_server, "/")
    summary = page.locator("#listing-body tr summary").first
    summary.focus()
    page.keyboard.press("Enter")
    expect(page.locator("details.menu[open]")).to_have_count(1)
    page.keyboard.press("Tab")
    page.keyboard.press("Escape")
    expect(page.locator("details.menu[open]")).to_have_count(0)
    assert page.evaluate("() => document.activeElement.tagName") == "SUMMARY"

    # A menu item that opens a dialog: closing the dialog comes back to the menu's button.
    for action, dialog in [("Rename", "#name-dialog"), ("Share", "#share-dialog")]:
        page.locator("#listing-body tr summary").first.focus()
        page.keyboard.press("Enter")
        page.locator("details.menu[open]").get_by_role("button", name=action).focus()
        page.keyboard.press("Enter")
        expect(page.locator(dialog)).to_be_visible()
        page.keyboard.press("Escape")
        expect(page.locator(f"{dialog}[open]")).to_have_count(0)
        page.wait_for_function("() => document.activeElement.tagName === 'SUMMARY'")


# WCAG contrast of the focused item's focus indicator (its background, or a 2px+ outline)
# against the menu's background, from computed styles.
CONTRAST = """(element) => {
  const parse = (c) => c.match(/[\\d.]+/g).map(Number);
  const channel = (v) => {
    v /= 255;
    return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
  };
  const lum = ([r, g, b]) => 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
  const ratio = (a, b) => {
    const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p);
    return (x + 0.05) / (y + 0.05);
  };
  const background = (el) => {
    for (; el; el = el.parentElement) {
      const c = parse(getComputedStyle(el).backgroundColor);
      if (c.length < 4 || c[3] > 0) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const item = getComputedStyle(element);
  const menu = background(element.parentElement);
  let best = ratio(background(element), menu);
  if (item.outlineStyle !== 'none' && parseFloat(item.outlineWidth) >= 2) {
    best = Math.max(best, ratio(parse(item.outlineColor).slice(0, 3), menu));
  }
  return best;
}"""


def test_a_focused_menu_item_stands_out_from_the_menu(logged_in_page, live_server, alice):
    store_file(alice, "plan.txt", b"the plan")
    page = logged_in_page(alice)
    go(page, live_server, "/")
    page.locator("#listing-body tr summary").first.focus()
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    item = page.locator("details.menu[open] .menu-items :focus")
    expect(item).to_have_count(1)
    assert item.evaluate(CONTRAST) >= 3


FIRST_TABBABLE = """() => {
  const positive = '[tabindex]:not([tabindex="-1"]):not([tabindex="0"])';
  if (document.querySelector(positive)) return 'positive tabindex';
  const all = document.querySelectorAll(
    'a[href], button, input, select, textarea, summary, [tabindex="0"]');
  const first = [...all].find(
    (e) => !e.disabled && e.type !== 'hidden' && e.getClientRects().length);
  return first ? first.textContent.trim() : '';
}"""


def test_a_skip_link_comes_first_on_every_page(logged_in_page, live_server, populated):
    page = logged_in_page(populated.user)
    for path in [*populated.owner_pages.values(), *populated.public_pages.values()]:
        go(page, live_server, path)
        assert page.evaluate(FIRST_TABBABLE) == "Skip to content", path
        if page.evaluate("() => document.activeElement === document.body"):
            # No field takes the focus on load: the first Tab reaches the skip link.
            page.keyboard.press("Tab")
        else:
            page.focus(".skip-link")
        skip = page.locator(":focus")
        expect(skip).to_have_text("Skip to content")
        expect(skip).to_be_visible()
        page.keyboard.press("Enter")
        assert page.evaluate("() => document.activeElement.id") == "content", path


# --- defect 8: edit forms -----------------------------------------------------------------------


def test_edit_forms_show_sizes_as_typed_and_offer_password_removal_only_when_there_is_one(
    logged_in_page, live_server, alice
):
    inbox = make_folder(alice, "Inbox")
    page = logged_in_page(alice)
    page.goto(f"{live_server.url}/shares/uploads/new?folder={inbox.public_id}")
    page.fill("#id_max_file_size", "5M")
    page.click("#upload-link-create")
    link = UploadLink.objects.get()
    assert link.max_file_size == 5 * 1024 * 1024
    page.goto(f"{live_server.url}/shares/uploads/{link.public_id}/")
    assert page.input_value("#id_max_file_size") == "5 MiB"
    assert "5242880" not in page.content()
    expect(page.locator("#id_remove_password")).to_have_count(0)
    page.click("#upload-link-save")  # saving unchanged keeps the same size
    link.refresh_from_db()
    assert link.max_file_size == 5 * 1024 * 1024

    file = store_file(alice, "secret.txt", b"s")
    share_create(owner=alice, file=file, password="open sesame")
    share = ShareLink.objects.get()
    page.goto(f"{live_server.url}/shares/{share.public_id}/")
    fields = page.locator("#share-edit-form .field").evaluate_all(
        "(els) => els.map((e) => e.querySelector('input, select, textarea').id)"
    )
    assert fields.index("id_remove_password") == fields.index("id_password") + 1


# --- defect 10: audit labels --------------------------------------------------------------------


def test_audit_pages_name_unlabelled_links_by_what_they_share(logged_in_page, live_server, staff):
    pdf = store_file(staff, "report.pdf", b"%PDF")
    share_create(owner=staff, file=pdf)
    upload_link_create(owner=staff, folder=make_folder(staff, "Folder X"))
    page = logged_in_page(staff)
    for path in ["/accounts/activity/", "/accounts/audit/"]:
        page.goto(f"{live_server.url}{path}")
        targets = page.locator("#audit-events td[data-label=Target]").all_text_contents()
        assert "share link to report.pdf" in targets, targets
        assert "upload link to Folder X/" in targets or "upload link to Folder X" in targets
        for text in targets:
            assert not re.search(r"[0-9a-f]{8}-[0-9a-f]{4}-", text), text


def test_audit_pages_name_3_or_18_links_with_the_same_queries(client, staff):
    client.force_login(staff)
    folder = make_folder(staff, "Folder X")

    def count(path):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(path)
        assert response.status_code == 200
        # Every link is named by what it shares, on the page measured.
        assert response.content.decode().count("share link to f") == len(links)
        return len(queries)

    links = []

    def add_links(n):
        for i in range(n):
            links.append(share_create(owner=staff, file=store_file(staff, f"f{i}-{n}.txt", b"x")))
            upload_link_create(owner=staff, folder=folder)

    add_links(3)
    few = {path: count(path) for path in ["/accounts/activity/", "/accounts/audit/"]}
    add_links(15)
    many = {path: count(path) for path in ["/accounts/activity/", "/accounts/audit/"]}
    assert few == many


# --- defect 11: one unit system and one date style ----------------------------------------------

SIZE = re.compile(r"^[\d,]+(\.\d)? (B|KiB|MiB|GiB|TiB)$")
RELATIVE = re.compile(
    r"^(now|in \d+ (minute|hour|day|month|year)s?|\d+ (minute|hour|day|month|year)s? ago)$"
)


def test_sizes_and_times_read_the_same_on_every_page(logged_in_page, live_server, populated):
    page = logged_in_page(populated.user)
    sizes, times = {}, {}
    for name, path in {**populated.owner_pages, **populated.public_pages}.items():
        go(page, live_server, path)
        sizes[name] = page.locator(
            "td.col-size, .share-listing td.size, #share-size, #uploads-log td[data-label=Size]"
        ).all_text_contents()
        times[name] = page.locator("main time").evaluate_all(
            "(els) => els.map((e) => [e.textContent.trim(), e.getAttribute('datetime'), e.title])"
        )
    assert any(sizes.values()) and any(times.values())
    for name, texts in sizes.items():
        for text in texts:
            assert text == "—" or SIZE.match(text.strip()), (name, text)
    for name, found in times.items():
        for text, iso, title in found:
            assert RELATIVE.match(text) and iso and title, (name, text, iso, title)
            # The exact time on hover, in one style everywhere: "Nov 30, 2026, 6:21 PM".
            assert re.match(r"^[A-Z][a-z]{2} \d{1,2}, \d{4}, \d{1,2}:\d{2}\s[AP]M$", title), title
    assert times["tokens"] and times["files"]


# --- defect 12: the small things ------------------------------------------------------------------


def test_upload_links_show_their_status_and_no_pointless_controls(
    logged_in_page, live_server, alice
):
    from django.utils import timezone

    inbox = make_folder(alice, "Inbox")
    full, _ = upload_link_create(owner=alice, folder=inbox, max_files=3)
    UploadLink.objects.filter(pk=full.pk).update(files_count=3)
    live, _ = upload_link_create(owner=alice, folder=inbox)
    gone, _ = upload_link_create(owner=alice, folder=inbox)
    UploadLink.objects.filter(pk=gone.pk).update(revoked_at=timezone.now())
    old, _ = upload_link_create(owner=alice, folder=inbox)
    UploadLink.objects.filter(pk=old.pk).update(expires_at=timezone.now())
    page = logged_in_page(alice)
    page.goto(f"{live_server.url}/shares/")
    expected = {full: "full 3/3", live: "active", gone: "revoked", old: "expired"}
    for link, status in expected.items():
        row = page.locator(f"tr[data-upload-link-id='{link.public_id}']")
        expect(row.locator(".upload-link-status")).to_have_text(status)
        revoke = row.get_by_role("button", name="Revoke")
        expect(revoke).to_have_count(1 if link is live else 0)
        if link is not live:
            expect(row.locator("td[data-label=Expires]")).to_have_text("—")


def test_search_results_say_which_folder_each_file_is_in(logged_in_page, live_server, alice):
    reports = make_folder(alice, "Reports 2026")
    store_file(alice, "plan-a.txt", b"a", folder=reports)
    store_file(alice, "plan-b.txt", b"b")
    page = logged_in_page(alice)
    go(page, live_server, "/search/?q=plan")
    locations = page.locator("#listing-body .item-location").all_text_contents()
    assert sorted(locations) == ["in My files", "in Reports 2026"]


def test_grid_view_keeps_the_menu_off_the_thumbnail_and_fits_two_tiles_on_a_phone(
    logged_in_page, live_server, alice
):
    for i in range(4):
        store_file(alice, f"picture-{i}.txt", b"x")
    page = logged_in_page(alice)
    page.set_viewport_size(PHONE)
    go(page, live_server, "/")
    page.click("#view-toggle")
    tiles = page.locator("#listing-body tr").evaluate_all(
        "(rows) => rows.map((r) => { const a = r.querySelector('summary').getBoundingClientRect();"
        " const i = r.querySelector('.item-icon, .item-thumb').getBoundingClientRect();"
        " const overlap = a.left < i.right && i.left < a.right"
        " && a.top < i.bottom && i.top < a.bottom;"
        " return [Math.round(r.getBoundingClientRect().top), overlap]; })"
    )
    assert not any(overlap for _, overlap in tiles)
    first_row = [top for top, _ in tiles if top == tiles[0][0]]
    assert len(first_row) >= 2


def test_every_page_has_one_h1_and_error_pages_lead_home(
    logged_in_page, live_server, populated, bob
):
    page = logged_in_page(populated.user)
    for path in [*populated.owner_pages.values(), *populated.public_pages.values()]:
        go(page, live_server, path)
        expect(page.locator("h1")).to_have_count(1)
    for path, status in [
        ("/no-such-page/", "404"),
        (populated.public_pages["revoked share (410)"], "410"),
    ]:
        response = page.goto(f"{live_server.url}{path}")
        assert str(response.status) == status
        home = page.locator("#way-home")
        expect(home).to_be_visible()
        assert (
            page.evaluate(
                "() => getComputedStyle(document.querySelector('main .card')).borderStyle"
            )
            == "solid"
        )
    home.click()
    expect(page).to_have_url(f"{live_server.url}/")
    # 403: a non-staff user on the audit log. Leave the files page first: its requests would
    # find the session gone and send the page to the log-in form in the middle of log_in().
    page.goto("about:blank")
    page.context.clear_cookies()
    from tests.fixtures.browser import log_in

    log_in(page, live_server, bob)
    response = page.goto(f"{live_server.url}/accounts/audit/")
    assert response.status == 403
    expect(page.locator("h1")).to_have_text("Not allowed")
    expect(page.locator("#way-home")).to_be_visible()


def test_favicon_is_served_and_profile_and_admin_links_look_different(
    logged_in_page, live_server, staff
):
    page = logged_in_page(staff)
    href = page.get_attribute("link[rel=icon]", "href")
    response = page.request.get(f"{live_server.url}{href}")
    assert response.status == 200 and b"<svg" in response.body()
    looks = page.evaluate(
        """() => ['#nav-profile', '#nav-admin'].map((s) => {
            const c = getComputedStyle(document.querySelector(s));
            return [c.color, c.borderTopStyle, c.textTransform].join(' '); })"""
    )
    assert looks[0] != looks[1]
    expect(page.locator("#nav-profile .avatar")).to_have_text("R")
