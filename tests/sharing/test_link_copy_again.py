"""Copying a link again: the token kept sealed under the master key, shown to its owner only
(API `url`, the pages), rotated by `rotatekeys`, useless in a database dump; and its QR code."""

import base64
import json
import os
import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from sharing import tokens
from sharing.models import ShareLink, UploadLink
from sharing.qr import link_qr_svg
from sharing.upload_links import upload_link_create
from storage import crypto
from tests.sharing.conftest import make_folder

pytestmark = pytest.mark.django_db


@pytest.fixture
def inbox(alice):
    return make_folder(alice, "Inbox")


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


def master_key_entry(key_id: str) -> str:
    return f"{key_id}:{base64.b64encode(os.urandom(32)).decode()}"


def legacy(link):
    """A link as made before tokens were kept: no sealed token."""
    type(link).objects.filter(pk=link.pk).update(token_sealed=None, token_key_id="")
    link.refresh_from_db()
    return link


# --- API --------------------------------------------------------------------------------------


def test_the_owner_gets_the_url_again_on_get_and_it_works(alice_api, client, report, share_of):
    share, token = share_of(report)
    detail = alice_api.get(f"/api/v1/shares/{share.public_id}/")
    assert detail.status_code == 200
    url = detail.json()["url"]
    assert url.endswith(f"/s/{token}")
    assert "token" not in detail.json()
    listed = alice_api.get("/api/v1/shares/").json()["results"]
    assert [item["url"] for item in listed] == [url]
    assert client.get(f"/s/{url.rsplit('/s/', 1)[1]}").status_code == 200


def test_another_user_gets_404_and_no_url(bob_api, report, share_of, inbox):
    share, token = share_of(report)
    link, link_token = upload_link_create(owner=share.owner, folder=inbox)
    for path in (f"/api/v1/shares/{share.public_id}/", f"/api/v1/upload-links/{link.public_id}/"):
        response = bob_api.get(path)
        assert response.status_code == 404
        assert token not in response.content.decode()
    for path in ("/api/v1/shares/", "/api/v1/upload-links/"):
        body = bob_api.get(path)
        assert body.status_code == 200 and body.json()["results"] == []


def test_upload_links_give_their_url_again(alice_api, alice, inbox, client):
    link, token = upload_link_create(owner=alice, folder=inbox)
    detail = alice_api.get(f"/api/v1/upload-links/{link.public_id}/").json()
    assert detail["url"].endswith(f"/r/{token}")
    assert alice_api.get("/api/v1/upload-links/").json()["results"][0]["url"] == detail["url"]
    assert client.get(f"/r/{token}").status_code == 200


def test_a_link_made_before_tokens_were_kept_has_url_null(
    alice_api, alice_client, report, share_of
):
    share, token = share_of(report)
    legacy(share)
    assert alice_api.get(f"/api/v1/shares/{share.public_id}/").json()["url"] is None
    page = alice_client.get(f"/shares/{share.public_id}/").content.decode()
    assert "shown only at creation" in page and token not in page
    assert alice_client.get(f"/shares/{share.public_id}/qr.svg").status_code == 404
    listing = alice_client.get("/shares/").content.decode()
    assert "link shown only at creation" in listing


def test_the_pages_offer_copy_link_to_the_owner(alice_client, report, share_of, alice, inbox):
    share, token = share_of(report)
    link, link_token = upload_link_create(owner=alice, folder=inbox)
    listing = alice_client.get("/shares/").content.decode()
    assert f"/s/{token}" in listing and f"/r/{link_token}" in listing
    assert listing.count("data-copy-target=") == 2
    detail = alice_client.get(f"/shares/{share.public_id}/").content.decode()
    assert re.search(rf'id="share-url" value="[^"]+/s/{token}"', detail)
    upload_detail = alice_client.get(f"/shares/uploads/{link.public_id}/").content.decode()
    assert re.search(rf'id="upload-link-url" value="[^"]+/r/{link_token}"', upload_detail)


# --- At rest ----------------------------------------------------------------------------------


def test_a_database_dump_holds_no_usable_link(report, share_of, alice, inbox, settings):
    share, token = share_of(report)
    link, link_token = upload_link_create(owner=alice, folder=inbox)
    out = StringIO()
    call_command("dumpdata", "sharing", stdout=out)
    dump = out.getvalue()
    rows = json.loads(dump)
    for secret in (token, link_token):
        assert secret not in dump
        raw = secret.encode()
        # Nothing in the dump decodes to the token either (binary fields dump as base64).
        for row in rows:
            for value in row["fields"].values():
                if isinstance(value, str) and value:
                    try:
                        decoded = base64.b64decode(value, validate=True)
                    except ValueError:
                        continue
                    assert raw not in decoded
    # The raw column, read as the database holds it.
    with connection.cursor() as cursor:
        cursor.execute("SELECT token_sealed, token_key_id FROM sharing_sharelink")
        ((sealed, key_id),) = cursor.fetchall()
    sealed = bytes(sealed)
    assert token.encode() not in sealed and len(sealed) == 1 + 12 + len(token) + 16
    # Without the master key it does not open: any other key fails authentication.
    with pytest.raises(crypto.DecryptionError):
        crypto.open_secret(
            sealed,
            master_key=os.urandom(32),
            master_key_id=key_id,
            purpose=tokens.token_purpose("share"),
            context=str(share.public_id),
        )


def test_a_sealed_token_copied_to_another_link_does_not_open(report, share_of):
    first, _first_token = share_of(report)
    second, second_token = share_of(report)
    ShareLink.objects.filter(pk=second.pk).update(token_sealed=first.token_sealed)
    second.refresh_from_db()
    assert tokens.token_unseal(second) is None  # the link's id is the associated data
    assert tokens.token_unseal(first) is not None


def test_rotatekeys_reseals_link_tokens_and_links_still_work(
    alice_api, client, report, share_of, alice, inbox, settings
):
    share, token = share_of(report)
    link, link_token = upload_link_create(owner=alice, folder=inbox)
    old_id = share.token_key_id
    old_keys = settings.LOCKER_MASTER_KEYS
    settings.LOCKER_MASTER_KEYS = master_key_entry("k-new") + "," + old_keys
    out = StringIO()
    call_command("rotatekeys", stdout=out, stderr=StringIO())
    assert "Still under an older key: 0" in out.getvalue()
    for model, before in ((ShareLink, share), (UploadLink, link)):
        row = model.objects.get(pk=before.pk)
        assert row.token_key_id == "k-new" != old_id
        assert bytes(row.token_sealed) != bytes(before.token_sealed)
    # The old key is gone: links still copy and still resolve.
    settings.LOCKER_MASTER_KEYS = settings.LOCKER_MASTER_KEYS.split(",")[0]
    assert alice_api.get(f"/api/v1/shares/{share.public_id}/").json()["url"].endswith(token)
    assert (
        alice_api.get(f"/api/v1/upload-links/{link.public_id}/").json()["url"].endswith(link_token)
    )
    assert client.get(f"/s/{token}").status_code == 200
    assert client.get(f"/r/{link_token}").status_code == 200


def test_rotatekeys_counts_a_token_under_a_missing_key_as_failed(report, share_of, settings):
    share, _token = share_of(report)
    settings.LOCKER_MASTER_KEYS = master_key_entry("k-only")  # the sealing key is gone
    ShareLink.objects.filter(pk=share.pk).update(token_key_id="k-gone")
    err = StringIO()
    with pytest.raises(CommandError, match="could not be unwrapped"):
        call_command("rotatekeys", stdout=StringIO(), stderr=err)
    assert "token" in err.getvalue()


# --- QR codes ---------------------------------------------------------------------------------


def svg_modules(svg: bytes) -> set[tuple[int, int]]:
    """The dark modules the SVG draws (each a 1×1 square `Mx,yH…V…H…z` of its one path)."""
    path = re.search(rb'<path d="([^"]+)"', svg).group(1).decode()
    return {(int(x), int(y)) for x, y in re.findall(r"M(\d+),(\d+)H", path)}


def qr_modules(url: str) -> set[tuple[int, int]]:
    """The modules of `url`'s QR code as the qrcode library computes them (border 4)."""
    import qrcode

    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=4)
    code.add_data(url)
    code.make(fit=True)
    return {(x, y) for y, row in enumerate(code.get_matrix()) for x, dark in enumerate(row) if dark}


def test_the_qr_code_draws_exactly_the_link_for_its_owner_only(
    alice_client, client, bob, report, share_of, alice, inbox
):
    share, token = share_of(report)
    link, link_token = upload_link_create(owner=alice, folder=inbox)
    for path, secret in (
        (f"/shares/{share.public_id}/qr.svg", f"/s/{token}"),
        (f"/shares/uploads/{link.public_id}/qr.svg", f"/r/{link_token}"),
    ):
        response = alice_client.get(path)
        assert response.status_code == 200
        assert response["Content-Type"] == "image/svg+xml"
        csp = response["Content-Security-Policy"]
        assert "default-src 'none'" in csp and "sandbox" in csp
        assert response["X-Content-Type-Options"] == "nosniff"
        svg = response.content
        assert b"<script" not in svg and b"href" not in svg
        url = alice_client.get(path.replace("qr.svg", "")).context["link_url"]
        assert url.endswith(secret)
        assert svg_modules(svg) == qr_modules(url)
        assert svg_modules(svg) != qr_modules(url + "x")
        download = alice_client.get(path + "?download=1")
        assert download["Content-Disposition"].startswith("attachment;")
        assert download.content == link_qr_svg(url)
    client.force_login(bob)
    assert client.get(f"/shares/{share.public_id}/qr.svg").status_code == 404
    assert client.get(f"/shares/uploads/{link.public_id}/qr.svg?download=1").status_code == 404
    client.logout()
    anonymous = client.get(f"/shares/{share.public_id}/qr.svg")
    assert anonymous.status_code == 302 and "/login" in anonymous["Location"]


def test_the_list_page_costs_the_same_queries_however_many_links_it_copies(
    alice_client, report, share_of, alice, inbox
):
    from django.test.utils import CaptureQueriesContext

    def cost() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert alice_client.get("/shares/").status_code == 200
        return len(queries)

    share_of(report)
    upload_link_create(owner=alice, folder=inbox)
    few = cost()
    for _ in range(5):
        share_of(report)
        upload_link_create(owner=alice, folder=inbox)
    page = alice_client.get("/shares/").content.decode()
    assert page.count("data-copy-target=") == 12
    assert cost() == few


def test_the_api_gives_the_qr_code_to_the_owner_only(alice_api, bob_api, report, share_of, inbox):
    share, token = share_of(report)
    link, link_token = upload_link_create(owner=share.owner, folder=inbox)
    for path, secret in (
        (f"/api/v1/shares/{share.public_id}/qr/", f"/s/{token}"),
        (f"/api/v1/upload-links/{link.public_id}/qr/", f"/r/{link_token}"),
    ):
        response = alice_api.get(path)
        assert response.status_code == 200
        assert response["Content-Type"] == "image/svg+xml"
        assert response["Content-Disposition"].startswith("attachment;")
        assert "sandbox" in response["Content-Security-Policy"]
        url = alice_api.get(path.replace("qr/", "")).json()["url"]
        assert url.endswith(secret)
        assert svg_modules(response.content) == qr_modules(url)
        refused = bob_api.get(path)
        assert refused.status_code == 404 and refused["Content-Type"] == "application/json"
    legacy(share)
    gone = alice_api.get(f"/api/v1/shares/{share.public_id}/qr/")
    assert gone.status_code == 404 and "shown only at creation" in gone.json()["detail"]
