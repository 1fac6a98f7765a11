"""The move dialog refuses "Move here" into the item's own folder with the server's sentence,
and the dialog stays open for another choice (issue 16, defect 9)."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from playwright.sync_api import expect

from files.models import File, Folder
from tests.fixtures.users import api_client_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_move_here_into_the_current_folder_is_refused_then_another_works(
    logged_in_page, live_server, alice
):
    client = api_client_for(alice)
    response = client.post("/api/v1/folders/", {"name": "Archive"}, format="json")
    archive = Folder.objects.get(public_id=response.json()["id"])
    client.post(
        "/api/v1/files/", {"file": SimpleUploadedFile("plan.txt", b"x")}, format="multipart"
    )
    page = logged_in_page(alice)
    page.goto(f"{live_server.url}/")
    link = page.get_by_role("link", name="plan.txt", exact=True)
    item = page.locator("#listing-body tr").filter(has=link)
    item.locator("summary").click()
    item.get_by_role("button", name="Move", exact=True).click()
    dialog = page.locator("#move-dialog")
    expect(dialog.locator(".breadcrumb li")).to_have_text(["My files"])
    dialog.get_by_role("button", name="Move here").click()

    expect(page.locator("#move-error")).to_have_text(
        "“plan.txt” is already in this folder; choose another folder."
    )
    expect(dialog).to_be_visible()
    expect(page.locator("#page-status")).to_be_hidden()  # no "Moved" announced

    dialog.get_by_role("button", name="Archive", exact=True).click()
    expect(page.locator("#move-error")).to_be_hidden()
    dialog.get_by_role("button", name="Move here").click()
    expect(dialog).not_to_be_visible()
    assert File.objects.get(owner=alice, name="plan.txt").folder == archive
