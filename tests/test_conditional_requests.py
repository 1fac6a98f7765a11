"""`ETag`, `If-Match` and `If-None-Match` on the items of the API (locker/conditional.py): the
ETag changes whenever what a client sees changes; a stale If-Match is 412 and changes nothing;
two clients with the same ETag cannot both change an item."""

import threading
import time

import pytest
import requests
from django.db import connection, transaction

from accounts.models import ApiToken
from accounts.services import api_token_create
from files.models import File, Folder
from sharing.models import ShareLink, UploadLink
from sharing.services import share_create
from sharing.upload_links import upload_link_create
from tests.fixtures.files import make_file, make_folder


@pytest.fixture
def report(alice):
    return make_file(alice, "report.txt", b"numbers\n")


@pytest.fixture
def share(alice, report):
    link, _token = share_create(owner=alice, file=report)
    return link


@pytest.fixture
def upload_link(alice):
    link, _token = upload_link_create(owner=alice, folder=make_folder(alice, "inbox"))
    return link


def detail_urls(report, share, upload_link, folder):
    return {
        "file": f"/api/v1/files/{report.public_id}/",
        "folder": f"/api/v1/folders/{folder.public_id}/",
        "share": f"/api/v1/shares/{share.public_id}/",
        "upload link": f"/api/v1/upload-links/{upload_link.public_id}/",
    }


CHANGES = {
    "file": {"name": "renamed.txt"},
    "folder": {"name": "Renamed"},
    "share": {"label": "for Bob"},
    "upload link": {"label": "for Bob"},
}


@pytest.fixture
def items(alice, report, share, upload_link):
    return detail_urls(report, share, upload_link, make_folder(alice, "Projects"))


@pytest.mark.parametrize("kind", list(CHANGES))
def test_the_etag_is_strong_and_changes_when_the_item_changes(alice_api, items, kind):
    url = items[kind]
    first = alice_api.get(url)
    etag = first["ETag"]
    assert etag.startswith('"') and etag.endswith('"') and not etag.startswith("W/")
    assert alice_api.get(url)["ETag"] == etag  # the same state, the same tag
    changed = alice_api.patch(url, CHANGES[kind], format="json")
    assert changed.status_code == 200
    assert changed["ETag"] != etag
    assert alice_api.get(url)["ETag"] == changed["ETag"]


def test_the_etag_of_a_file_changes_when_it_is_moved(alice, alice_api, report):
    url = f"/api/v1/files/{report.public_id}/"
    before = alice_api.get(url)["ETag"]
    target = make_folder(alice, "archive")
    moved = alice_api.patch(url, {"folder": str(target.public_id)}, format="json")
    assert moved.status_code == 200
    assert moved["ETag"] != before


@pytest.mark.parametrize("kind", list(CHANGES))
def test_a_patch_with_the_current_etag_goes_through(alice_api, items, kind):
    url = items[kind]
    etag = alice_api.get(url)["ETag"]
    response = alice_api.patch(url, CHANGES[kind], format="json", HTTP_IF_MATCH=etag)
    assert response.status_code == 200, response.content


@pytest.mark.parametrize("kind", list(CHANGES))
def test_a_patch_with_a_stale_etag_answers_412_and_changes_nothing(alice_api, items, kind):
    url = items[kind]
    stale = alice_api.get(url)["ETag"]
    assert alice_api.patch(url, CHANGES[kind], format="json").status_code == 200
    now = alice_api.get(url).json()
    response = alice_api.patch(
        url,
        {"label": "mine"} if "label" in CHANGES[kind] else {"name": "mine"},
        format="json",
        HTTP_IF_MATCH=stale,
    )
    assert response.status_code == 412
    assert "has changed since you read it" in response.json()["detail"]
    assert alice_api.get(url).json() == now


@pytest.mark.parametrize("kind", list(CHANGES))
def test_a_delete_with_a_stale_etag_answers_412_and_deletes_nothing(alice_api, items, kind):
    url = items[kind]
    stale = alice_api.get(url)["ETag"]
    assert alice_api.patch(url, CHANGES[kind], format="json").status_code == 200
    response = alice_api.delete(url, HTTP_IF_MATCH=stale)
    assert response.status_code == 412
    assert alice_api.get(url).status_code == 200


def test_a_delete_with_the_current_etag_goes_through(alice_api, report):
    url = f"/api/v1/files/{report.public_id}/"
    etag = alice_api.get(url)["ETag"]
    assert alice_api.delete(url, HTTP_IF_MATCH=etag).status_code == 204
    assert File.objects.get(pk=report.pk).deleted_at is not None


def test_if_match_star_and_lists_are_understood_and_weak_tags_never_match(alice_api, report):
    url = f"/api/v1/files/{report.public_id}/"
    etag = alice_api.get(url)["ETag"]
    weak = alice_api.patch(url, {"name": "a.txt"}, format="json", HTTP_IF_MATCH=f"W/{etag}")
    assert weak.status_code == 412
    listed = alice_api.patch(
        url, {"name": "b.txt"}, format="json", HTTP_IF_MATCH=f'"other", {etag}'
    )
    assert listed.status_code == 200
    star = alice_api.patch(url, {"name": "c.txt"}, format="json", HTTP_IF_MATCH="*")
    assert star.status_code == 200
    assert File.objects.get(pk=report.pk).name == "c.txt"


def test_without_if_match_a_patch_works_as_before(alice_api, report):
    url = f"/api/v1/files/{report.public_id}/"
    response = alice_api.patch(url, {"name": "x.txt"}, format="json")
    assert response.status_code == 200
    assert File.objects.get(pk=report.pk).name == "x.txt"


def test_if_match_on_another_users_item_is_still_404(bob_api, report):
    response = bob_api.patch(
        f"/api/v1/files/{report.public_id}/", {"name": "x.txt"}, format="json", HTTP_IF_MATCH="*"
    )
    assert response.status_code == 404


@pytest.mark.parametrize("kind", list(CHANGES))
def test_if_none_match_with_the_current_etag_answers_304(alice_api, items, kind):
    url = items[kind]
    etag = alice_api.get(url)["ETag"]
    response = alice_api.get(url, HTTP_IF_NONE_MATCH=etag)
    assert response.status_code == 304
    assert response.content == b""
    assert response["ETag"] == etag
    assert alice_api.get(url, HTTP_IF_NONE_MATCH='"stale"').status_code == 200


def test_a_stale_if_match_leaves_a_share_link_as_it_was(alice_api, share):
    url = f"/api/v1/shares/{share.public_id}/"
    stale = alice_api.get(url)["ETag"]
    ShareLink.objects.filter(pk=share.pk).update(label="changed elsewhere")
    response = alice_api.patch(url, {"max_downloads": 1}, format="json", HTTP_IF_MATCH=stale)
    assert response.status_code == 412
    share.refresh_from_db()
    assert share.max_downloads is None and share.label == "changed elsewhere"


def test_a_stale_if_match_leaves_an_upload_link_unrevoked(alice_api, upload_link):
    url = f"/api/v1/upload-links/{upload_link.public_id}/"
    stale = alice_api.get(url)["ETag"]
    UploadLink.objects.filter(pk=upload_link.pk).update(label="changed elsewhere")
    assert alice_api.delete(url, HTTP_IF_MATCH=stale).status_code == 412
    upload_link.refresh_from_db()
    assert upload_link.revoked_at is None


# --- Two clients with the same ETag, through a live server -------------------------------------


def _wait_until_connections_wait_for_a_lock(count: int) -> None:
    """PostgreSQL shows the backends blocked on a lock (the statistics snapshot is cleared
    first: within a transaction it would stay as first read)."""
    for _attempt in range(600):
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0] >= count:
                return
        time.sleep(0.05)
    raise AssertionError(f"{count} requests never waited for the lock")


@pytest.mark.django_db(transaction=True)
def test_two_patches_at_once_with_the_same_etag_exactly_one_succeeds(live_server, alice):
    """Both clients read the file, then rename it with the ETag they read, at the same moment:
    the test holds the file's row lock until both requests wait for it, then lets them go. One
    rename wins (200), the other is told the file changed (412)."""
    report = make_file(alice, "report.txt", b"numbers\n")
    url = f"{live_server.url}/api/v1/files/{report.public_id}/"
    clients = []
    for name in ("one", "two"):
        _token, secret = api_token_create(user=alice, name=name)
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {secret}"
        clients.append(session)
    etag = clients[0].get(url, timeout=30).headers["ETag"]
    assert clients[1].get(url, timeout=30).headers["ETag"] == etag
    answers: dict[str, requests.Response] = {}

    def rename(session: requests.Session, name: str) -> None:
        answers[name] = session.patch(
            url, json={"name": name}, headers={"If-Match": etag}, timeout=60
        )

    threads = [
        threading.Thread(target=rename, args=(clients[0], "first.txt")),
        threading.Thread(target=rename, args=(clients[1], "second.txt")),
    ]
    with transaction.atomic():
        list(File.objects.select_for_update().filter(pk=report.pk).values_list("pk"))
        for thread in threads:
            thread.start()
        _wait_until_connections_wait_for_a_lock(2)
    for thread in threads:
        thread.join(60)
    statuses = sorted(answer.status_code for answer in answers.values())
    assert statuses == [200, 412], {name: answer.text for name, answer in answers.items()}
    (winner,) = [name for name, answer in answers.items() if answer.status_code == 200]
    assert File.objects.get(pk=report.pk).name == winner
    assert Folder.objects.filter(owner=alice).count() == 1  # the root only: nothing else moved


def test_a_token_has_an_etag_and_a_stale_if_match_does_not_revoke_it(alice, alice_api):
    token, _secret = api_token_create(user=alice, name="backup")
    url = f"/api/v1/tokens/{token.pk}/"
    shown = alice_api.get(url)
    assert shown.status_code == 200 and shown.json()["name"] == "backup"
    assert "token" not in shown.json()
    stale = shown["ETag"]
    ApiToken.objects.filter(pk=token.pk).update(name="renamed elsewhere")
    assert alice_api.get(url)["ETag"] != stale
    assert alice_api.delete(url, HTTP_IF_MATCH=stale).status_code == 412
    token.refresh_from_db()
    assert token.revoked_at is None
    current = alice_api.get(url)["ETag"]
    assert alice_api.delete(url, HTTP_IF_MATCH=current).status_code == 204
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert alice_api.get(url).status_code == 404


def test_another_users_token_is_404_with_or_without_if_match(alice, bob_api):
    token, _secret = api_token_create(user=alice, name="backup")
    url = f"/api/v1/tokens/{token.pk}/"
    assert bob_api.get(url).status_code == 404
    assert bob_api.delete(url, HTTP_IF_MATCH="*").status_code == 404
    assert bob_api.delete(url).status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None
