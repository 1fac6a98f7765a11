"""A token confined to one folder (an integration that drops invoices into "Invoices"), sent
the way an attacker holding it would: it reaches that folder's subtree and nothing else, by
any route — ids, moves, batches, ZIPs, search, shares, trash, tus, token creation."""

import pytest
from rest_framework.test import APIClient

from accounts.services import api_token_create
from files.models import File, Folder, TusUpload
from files.services import file_trash
from sharing.models import ShareLink
from sharing.services import share_create
from tests.fixtures.files import upload
from tests.security.conftest import make_folder, store_file
from tests.tus.helpers import create as tus_create
from tests.tus.helpers import head as tus_head
from tests.tus.helpers import path_of

pytestmark = pytest.mark.django_db

EVERYTHING = ["files:read", "files:write", "shares:read", "shares:write", "upload-links:write"]
EVERYTHING += ["account:read", "account:write"]


def token_client(user, scopes, folder=None) -> APIClient:
    _token, secret = api_token_create(user=user, name="invoices", scopes=scopes, folder=folder)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


@pytest.fixture
def locker(alice):
    invoices = make_folder(alice, "Invoices")
    inside = make_folder(alice, "2026", parent=invoices)
    hr = make_folder(alice, "HR")
    return {
        "invoices": invoices,
        "inside": inside,
        "hr": hr,
        "invoice": store_file(alice, "invoice-1.pdf", b"%PDF invoice", folder=inside),
        "secret": store_file(alice, "salaries-secret.txt", b"SALARIES", folder=hr),
        "top": store_file(alice, "top-secret.txt", b"TOP"),
        "api": token_client(alice, EVERYTHING, folder=invoices),
    }


def ids(response) -> set[str]:
    return {row["id"] for row in response.json()["results"]}


def test_the_confined_folder_is_the_tokens_root(locker):
    api = locker["api"]
    assert ids(api.get("/api/v1/folders/")) == {str(locker["inside"].public_id)}
    assert ids(api.get("/api/v1/files/")) == set()
    response = api.get(f"/api/v1/files/?folder={locker['inside'].public_id}")
    assert ids(response) == {str(locker["invoice"].public_id)}
    # Its own id means it too, as an integration configured with it would send.
    response = api.get(f"/api/v1/folders/?parent={locker['invoices'].public_id}")
    assert ids(response) == {str(locker["inside"].public_id)}


def test_outside_items_answer_404_by_id(locker):
    api = locker["api"]
    for url in (
        f"/api/v1/files/{locker['secret'].public_id}/",
        f"/api/v1/files/{locker['secret'].public_id}/content",
        f"/api/v1/files/{locker['top'].public_id}/content",
        f"/api/v1/folders/{locker['hr'].public_id}/",
        f"/api/v1/folders/?parent={locker['hr'].public_id}",
        f"/api/v1/files/?folder={locker['hr'].public_id}",
    ):
        assert api.get(url).status_code == 404, url
    assert api.get(f"/api/v1/files/{locker['invoice'].public_id}/content").status_code == 200


def test_the_parent_folder_and_the_confined_folder_itself_cannot_be_zipped_renamed_or_deleted(
    alice, locker
):
    api = locker["api"]
    invoices = locker["invoices"]
    assert api.get(f"/api/v1/folders/{invoices.public_id}/download").status_code == 404
    body = {"action": "zip", "folders": [str(invoices.public_id)]}
    assert api.post("/api/v1/files/batch/", body, format="json").status_code == 404
    assert api.patch(f"/api/v1/folders/{invoices.public_id}/", {"name": "x"}).status_code == 404
    assert api.delete(f"/api/v1/folders/{invoices.public_id}/").status_code == 404
    invoices.refresh_from_db()
    assert invoices.name == "Invoices" and invoices.deleted_at is None
    # A subfolder's ZIP holds only what is inside.
    response = api.get(f"/api/v1/folders/{locker['inside'].public_id}/download")
    assert response.status_code == 200
    assert b"SALARIES" not in b"".join(response.streaming_content)


def test_moving_things_out_of_the_folder_is_refused(locker):
    api = locker["api"]
    invoice, inside, hr = locker["invoice"], locker["inside"], locker["hr"]
    response = api.patch(
        f"/api/v1/files/{invoice.public_id}/", {"folder": str(hr.public_id)}, format="json"
    )
    assert response.status_code == 404
    response = api.patch(
        f"/api/v1/folders/{inside.public_id}/", {"parent": str(hr.public_id)}, format="json"
    )
    assert response.status_code == 404
    body = {"action": "move", "files": [str(invoice.public_id)], "target": str(hr.public_id)}
    assert api.post("/api/v1/files/batch/", body, format="json").status_code == 404
    # "null = the root" is the token's root: the confined folder.
    response = api.patch(f"/api/v1/files/{invoice.public_id}/", {"folder": None}, format="json")
    assert response.status_code == 200
    invoice.refresh_from_db()
    assert invoice.folder_id == locker["invoices"].pk
    inside.refresh_from_db()
    assert inside.parent_id == locker["invoices"].pk


def test_outside_items_cannot_be_moved_in(locker):
    api = locker["api"]
    secret = locker["secret"]
    response = api.patch(
        f"/api/v1/files/{secret.public_id}/",
        {"folder": str(locker["inside"].public_id)},
        format="json",
    )
    assert response.status_code == 404
    assert File.objects.get(pk=secret.pk).folder_id == locker["hr"].pk


def test_a_batch_with_one_outside_id_is_refused_whole(locker):
    api = locker["api"]
    for action in ("delete", "zip", "move"):
        body = {
            "action": action,
            "files": [str(locker["invoice"].public_id), str(locker["secret"].public_id)],
            "target": str(locker["inside"].public_id),
        }
        assert api.post("/api/v1/files/batch/", body, format="json").status_code == 404
    body = {"action": "delete", "folders": [str(locker["hr"].public_id)]}
    assert api.post("/api/v1/files/batch/", body, format="json").status_code == 404
    assert (
        File.objects.alive().filter(pk__in=[locker["invoice"].pk, locker["secret"].pk]).count() == 2
    )
    assert Folder.objects.alive().filter(pk=locker["hr"].pk).exists()


def test_search_finds_nothing_outside(locker):
    api = locker["api"]
    assert ids(api.get("/api/v1/files/?search=secret")) == set()
    assert ids(api.get("/api/v1/folders/?search=HR")) == set()
    assert ids(api.get("/api/v1/files/?search=invoice")) == {str(locker["invoice"].public_id)}
    assert ids(api.get("/api/v1/folders/?search=2026")) == {str(locker["inside"].public_id)}


def test_sharing_an_outside_file_is_refused_and_outside_shares_are_hidden(alice, locker):
    api = locker["api"]
    for body in (
        {"file": str(locker["secret"].public_id)},
        {"folder": str(locker["hr"].public_id)},
        {"folder": str(locker["invoices"].public_id)},
        {"files": [str(locker["invoice"].public_id), str(locker["top"].public_id)]},
    ):
        assert api.post("/api/v1/shares/", body, format="json").status_code == 404, body
    assert not ShareLink.objects.exists()
    outside, _token = share_create(owner=alice, file=locker["secret"])
    mixed, _token = share_create(owner=alice, folder=locker["hr"])
    response = api.post(
        "/api/v1/shares/", {"file": str(locker["invoice"].public_id)}, format="json"
    )
    assert response.status_code == 201
    mine = response.json()["id"]
    assert ids(api.get("/api/v1/shares/")) == {mine}
    for share in (outside, mixed):
        assert api.get(f"/api/v1/shares/{share.public_id}/").status_code == 404
        assert api.delete(f"/api/v1/shares/{share.public_id}/").status_code == 404
    body = {"folder": str(locker["hr"].public_id)}
    assert api.post("/api/v1/upload-links/", body, format="json").status_code == 404


def test_uploads_land_inside_and_never_outside(locker):
    api = locker["api"]
    assert upload(api, "a.pdf", b"x", folder=locker["hr"].public_id).status_code == 404
    response = upload(api, "b.pdf", b"y")
    assert response.status_code == 201
    assert File.objects.get(public_id=response.json()["id"]).folder_id == locker["invoices"].pk


def test_a_tus_upload_to_another_folder_is_refused(alice, locker):
    api = locker["api"]
    response = tus_create(api, 5, meta={"folder": str(locker["hr"].public_id)})
    assert response.status_code == 404
    assert not TusUpload.objects.exists()
    # An upload the owner started elsewhere (by session) is not this token's to continue.
    owner = APIClient()
    owner.force_login(alice)
    url = path_of(tus_create(owner, 5, meta={"folder": str(locker["hr"].public_id)}))
    assert tus_head(api, url).status_code == 404
    assert api.delete(url, HTTP_TUS_RESUMABLE="1.0.0").status_code == 404
    assert tus_head(owner, url).status_code == 200
    inside = path_of(tus_create(api, 5, meta={"folder": str(locker["inside"].public_id)}))
    assert tus_head(api, inside).status_code == 200


def test_the_trash_shows_and_restores_only_what_was_inside(alice, locker):
    api = locker["api"]
    file_trash(file=locker["secret"])
    assert api.get("/api/v1/trash/").json()["results"] == []
    assert api.post(f"/api/v1/trash/{locker['secret'].public_id}/restore").status_code == 404
    assert api.delete(f"/api/v1/trash/{locker['secret'].public_id}/").status_code == 404
    response = api.delete("/api/v1/trash/")
    assert response.status_code == 403
    assert File.objects.filter(pk=locker["secret"].pk).exists()
    # Inside: trashed, then its folder is trashed too: restoring stays inside the folder.
    assert api.delete(f"/api/v1/files/{locker['invoice'].public_id}/").status_code == 204
    assert api.delete(f"/api/v1/folders/{locker['inside'].public_id}/").status_code == 204
    rows = api.get("/api/v1/trash/").json()["results"]
    assert {row["id"] for row in rows} == {
        str(locker["invoice"].public_id),
        str(locker["inside"].public_id),
    }
    # Where each was, from the token's root: nothing of the names above it.
    assert {row["location"] for row in rows} == {"/", "/2026"}
    assert api.post(f"/api/v1/trash/{locker['invoice'].public_id}/restore").status_code == 200
    restored = File.objects.get(pk=locker["invoice"].pk)
    assert restored.deleted_at is None and restored.folder_id == locker["invoices"].pk


def test_account_wide_routes_refuse_a_confined_token(locker):
    api = locker["api"]
    for method, url in (("get", "/api/v1/uploads/"), ("get", "/api/v1/audit/")):
        response = getattr(api, method)(url)
        assert response.status_code == 403, url
        assert "confined to a folder" in response.json()["detail"]


def test_a_confined_token_only_makes_tokens_confined_inside_its_folder(alice, locker):
    api = locker["api"]
    response = api.post("/api/v1/tokens/", {"name": "child"}, format="json")
    assert response.status_code == 201
    assert response.json()["folder"] == str(locker["invoices"].public_id)
    body = {"name": "escape", "folder": str(locker["hr"].public_id)}
    response = api.post("/api/v1/tokens/", body, format="json")
    assert response.status_code == 400
    assert response.json()["errors"]["folder"] == ["No such folder in your locker."]
    body = {"name": "deeper", "folder": str(locker["inside"].public_id), "scopes": ["files:read"]}
    response = api.post("/api/v1/tokens/", body, format="json")
    assert response.status_code == 201
    assert response.json()["folder"] == str(locker["inside"].public_id)
    assert response.json()["scopes"] == ["files:read"]


def test_a_token_whose_folder_is_deleted_for_good_stops_working(alice, locker):
    from files.services import folder_trash, trash_item_delete

    folder_trash(folder=locker["invoices"])
    assert locker["api"].get("/api/v1/files/").status_code == 404
    trash_item_delete(item=Folder.objects.get(pk=locker["invoices"].pk))
    assert locker["api"].get("/api/v1/files/").status_code == 401


def test_the_token_list_shows_scopes_and_folder(alice, locker):
    response = locker["api"].get("/api/v1/tokens/")
    (row,) = response.json()["results"]
    assert row["scopes"] == EVERYTHING_SORTED
    assert row["folder"] == str(locker["invoices"].public_id)
    assert row["folder_name"] == "Invoices"


EVERYTHING_SORTED = [
    "files:read",
    "files:write",
    "shares:read",
    "shares:write",
    "upload-links:write",
    "account:read",
    "account:write",
]


def test_breadcrumbs_start_below_the_confined_folder(alice, locker):
    deeper = make_folder(alice, "Q1", parent=locker["inside"])
    response = locker["api"].get(f"/api/v1/folders/{deeper.public_id}/")
    assert [crumb["name"] for crumb in response.json()["path"]] == ["2026", "Q1"]
    owner = APIClient()
    owner.force_login(alice)
    response = owner.get(f"/api/v1/folders/{deeper.public_id}/")
    assert [crumb["name"] for crumb in response.json()["path"]] == ["Invoices", "2026", "Q1"]


def test_a_confined_token_sees_and_revokes_only_tokens_inside_its_folder(alice, locker):
    hr_token, _secret = api_token_create(
        user=alice, name="hr bot", scopes=["files:read"], folder=locker["hr"]
    )
    full_token, _secret = api_token_create(user=alice, name="laptop")
    api = locker["api"]
    names = {row["name"] for row in api.get("/api/v1/tokens/").json()["results"]}
    assert names == {"invoices"}
    for token in (hr_token, full_token):
        assert api.delete(f"/api/v1/tokens/{token.pk}/").status_code == 404
        token.refresh_from_db()
        assert token.revoked_at is None
