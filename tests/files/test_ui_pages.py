"""The file pages rendered by the server: access, escaping and the CSP-friendly shell."""

import re
import uuid

import pytest

from files.services import folder_create, folder_trash

HOSTILE = "<img src=x onerror=alert(1)>"
PAGES = ["/", "/trash/", "/search/?q=x"]


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


@pytest.mark.parametrize("url", [*PAGES, f"/folders/{uuid.uuid4()}/"])
def test_anonymous_visitor_is_sent_to_the_login_page(client, db, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


def test_root_page_renders_the_browser_shell(alice_client):
    response = alice_client.get("/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-mode="folder"' in html
    assert 'data-folder-id=""' in html
    assert 'id="upload-input"' in html
    assert "js/files.js" in html
    assert "css/files.css" in html


def test_folder_page_names_the_folder_and_its_path(alice_client, alice):
    photos = folder_create(user=alice, parent=None, name="Photos")
    summer = folder_create(user=alice, parent=photos, name="Summer")
    response = alice_client.get(f"/folders/{summer.public_id}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert f'data-folder-id="{summer.public_id}"' in html
    assert f'href="/folders/{photos.public_id}/">Photos</a>' in html
    assert '<h1 class="breadcrumb-current" aria-current="page">Summer</h1>' in html


def test_someone_elses_folder_answers_404(alice_client, bob):
    bobs = folder_create(user=bob, parent=None, name="Bob's secrets")
    response = alice_client.get(f"/folders/{bobs.public_id}/")
    assert response.status_code == 404
    assert "Bob&#x27;s secrets" not in response.content.decode()
    assert "Bob's secrets" not in response.content.decode()


def test_unknown_folder_answers_404(alice_client):
    assert alice_client.get(f"/folders/{uuid.uuid4()}/").status_code == 404


def test_trashed_folder_answers_404(alice_client, alice):
    old = folder_create(user=alice, parent=None, name="Old")
    folder_trash(folder=old)
    assert alice_client.get(f"/folders/{old.public_id}/").status_code == 404


def test_hostile_folder_names_are_escaped_in_the_breadcrumb(alice_client, alice):
    outer = folder_create(user=alice, parent=None, name=HOSTILE)
    inner = folder_create(user=alice, parent=outer, name=f'"><svg onload=alert(2)>{HOSTILE}')
    html = alice_client.get(f"/folders/{inner.public_id}/").content.decode()
    assert HOSTILE not in html
    assert "<svg onload" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_search_query_is_escaped(alice_client):
    html = alice_client.get("/search/", {"q": f'"{HOSTILE}'}).content.decode()
    assert HOSTILE not in html
    assert 'value="&quot;&lt;img src=x onerror=alert(1)&gt;"' in html
    assert 'data-mode="search"' in html


def test_trash_page_says_how_long_items_are_kept(alice_client, settings):
    settings.LOCKER_TRASH_DAYS = 12
    html = alice_client.get("/trash/").content.decode()
    assert "after 12 days" in html
    assert "js/files-trash.js" in html


@pytest.mark.parametrize("url", PAGES)
def test_pages_carry_no_inline_script_style_or_handler(alice_client, url):
    html = alice_client.get(url).content.decode()
    for tag in re.findall(r"<script\b[^>]*>", html):
        assert 'src="' in tag, tag
    assert not re.search(r"<style\b", html)
    assert not re.search(r"\sstyle\s*=", html)
    assert not re.search(r"\son[a-z]+\s*=", html)


def test_pages_refuse_writes(alice_client):
    assert alice_client.post("/").status_code == 405
    assert alice_client.post("/trash/").status_code == 405
