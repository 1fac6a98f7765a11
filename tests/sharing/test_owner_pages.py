import re

import pytest

from sharing.models import ShareLink, UploadLink
from tests.sharing.conftest import make_folder


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


def test_share_new_page_creates_a_link_that_its_page_shows_again_to_the_owner_only(
    alice_client, client, report, alice, bob
):
    page = alice_client.get(f"/shares/new?file={report.public_id}")
    assert page.status_code == 200
    response = alice_client.post(
        f"/shares/new?file={report.public_id}",
        {"expires_in": "1d", "max_downloads": "3", "password": "pw", "allow_download": "on"},
    )
    share = ShareLink.objects.get()
    created = f"/shares/{share.public_id}/created"
    assert (response.status_code, response["Location"]) == (302, created)  # post/redirect/get
    assert alice_client.head(created).status_code == 405  # a prefetch cannot use it up
    response = alice_client.get(created)
    assert response.status_code == 200
    url = re.search(r'id="share-url" value="([^"]+)"', response.content.decode()).group(1)
    token = url.rsplit("/s/", 1)[1]
    # Shown once: a reload goes to the link's page, which never shows the link.
    again = alice_client.get(created)
    assert again["Location"] == f"/shares/{share.public_id}/"
    assert ShareLink.objects.count() == 1
    assert (share.max_downloads, share.has_password, share.allow_download) == (3, True, True)
    alice_client.logout()
    assert client.get(f"/s/{token}/download", HTTP_X_SHARE_PASSWORD="pw").status_code == 200
    client.force_login(bob)
    assert client.get(f"/shares/{share.public_id}/").status_code == 404
    client.force_login(alice)
    assert f"/s/{token}" in client.get(f"/shares/{share.public_id}/").content.decode()


def test_share_form_errors_are_shown_next_to_the_field(alice_client, report, settings):
    settings.LOCKER_SHARE_MAX_EXPIRY = 3600
    response = alice_client.post(
        f"/shares/new?file={report.public_id}", {"expires_in": "30d", "allow_download": "on"}
    )
    assert response.status_code == 200
    assert 'id="id_expires_in-errors"' in response.content.decode()
    assert not ShareLink.objects.exists()


def test_sharing_someone_elses_file_answers_404(client, bob, report):
    client.force_login(bob)
    assert client.get(f"/shares/new?file={report.public_id}").status_code == 404
    assert client.post(f"/shares/new?file={report.public_id}", {}).status_code == 404


def test_shares_page_lists_only_my_links(alice_client, client, bob, report, share_of):
    share, _token = share_of(report, label="for the board")
    body = alice_client.get("/shares/").content.decode()
    assert "for the board" in body
    client.force_login(bob)
    assert "for the board" not in client.get("/shares/").content.decode()
    assert client.get(f"/shares/{share.public_id}/").status_code == 404
    assert client.post(f"/shares/{share.public_id}/revoke").status_code == 404
    share.refresh_from_db()
    assert share.revoked_at is None


def test_owner_revokes_from_the_page(alice_client, client, report, share_of):
    share, token = share_of(report)
    # Without the page's script, the Revoke button's POST gets a confirmation step first.
    asked = alice_client.post(f"/shares/{share.public_id}/revoke")
    assert asked.status_code == 200
    page = asked.content.decode()
    assert "stops working at once" in page and 'name="confirm" value="yes"' in page
    assert f'href="/shares/{share.public_id}/"' in page  # the way back, nothing revoked
    share.refresh_from_db()
    assert share.revoked_at is None
    response = alice_client.post(f"/shares/{share.public_id}/revoke", {"confirm": "yes"})
    assert response.status_code == 302
    assert client.get(f"/s/{token}").status_code == 410


def test_revoke_needs_a_post(alice_client, report, share_of):
    share, _token = share_of(report)
    assert alice_client.get(f"/shares/{share.public_id}/revoke").status_code == 405


def test_owner_edits_a_link_and_sees_its_access_log(alice_client, client, report, share_of):
    share, token = share_of(report)
    b"".join(client.get(f"/s/{token}/download", HTTP_USER_AGENT="Agent/<b>1").streaming_content)
    response = alice_client.post(
        f"/shares/{share.public_id}/",
        {"expires_in": "", "max_downloads": "5", "label": "edited", "allow_download": "on"},
    )
    assert response.status_code == 302
    share.refresh_from_db()
    assert (share.max_downloads, share.label) == (5, "edited")
    body = alice_client.get(f"/shares/{share.public_id}/").content.decode()
    assert "Agent/&lt;b&gt;1" in body


def test_upload_link_page_creates_a_link(alice_client, alice):
    folder = make_folder(alice, "Inbox")
    response = alice_client.post(
        f"/shares/uploads/new?folder={folder.public_id}",
        {"expires_in": "7d", "max_files": "2", "max_file_size": "10M", "notify": "on"},
        follow=True,
    )
    assert response.redirect_chain[-1][1] == 302 and response.status_code == 200
    link = UploadLink.objects.get()
    assert (link.max_files, link.max_file_size) == (2, 10 * 1024 * 1024)
    assert "/r/" in response.content.decode()


def test_owner_pages_need_a_login(client, report):
    assert client.get("/shares/").status_code == 302
    assert client.get(f"/shares/new?file={report.public_id}").status_code == 302


def test_owner_edits_an_upload_link_and_sees_what_arrived(alice_client, client, alice):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from sharing.upload_links import upload_link_create

    folder = make_folder(alice, "Inbox")
    link, token = upload_link_create(owner=alice, folder=folder)
    client.post(
        f"/r/{token}/upload", {"file": [SimpleUploadedFile("<b onclick=x>cv.pdf", b"%PDF")]}
    )
    page = alice_client.get(f"/shares/uploads/{link.public_id}/")
    assert page.status_code == 200
    assert "&lt;b onclick=x&gt;cv.pdf" in page.content.decode()
    response = alice_client.post(
        f"/shares/uploads/{link.public_id}/",
        {"expires_in": "", "max_files": "4", "max_file_size": "1M", "message": "new", "notify": ""},
    )
    assert response.status_code == 302
    link.refresh_from_db()
    assert (link.max_files, link.max_file_size, link.message, link.notify) == (
        4,
        1048576,
        "new",
        False,
    )


def test_someone_elses_upload_link_page_answers_404(client, bob, alice):
    from sharing.upload_links import upload_link_create

    link, _token = upload_link_create(owner=alice, folder=make_folder(alice, "Inbox"))
    client.force_login(bob)
    assert client.get(f"/shares/uploads/{link.public_id}/").status_code == 404
    assert client.post(f"/shares/uploads/{link.public_id}/revoke").status_code == 404
