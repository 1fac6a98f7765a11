"""Issue 11 (low): no limit on folder depth. An attacker with an account nested 1,101 folders
(723 s to create, 1.16 s per listing of the deepest, a query per level on every access check),
and a share of a folder deeper than ~1,000 levels said "This folder is in the trash".

Now LOCKER_MAX_FOLDER_DEPTH (64) holds on every route that makes a folder deeper, and every
ancestry check (breadcrumbs, trash, share resolution, moves) is one query whatever the depth.
"""

import threading
import time

import pytest
from django.db import connection, transaction
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext

from files import services
from files.models import Folder
from files.selectors import folder_get_root
from sharing import access as share_access
from sharing import selectors as share_selectors
from sharing.tokens import opaque_id
from sharing.upload_links import upload_link_create
from tests.fixtures.files import depth_of, make_folder_chain
from tests.sharing.conftest import make_folder, store_file

pytestmark = pytest.mark.django_db


def queries(action) -> int:
    with CaptureQueriesContext(connection) as captured:
        action()
    return len(captured.captured_queries)


def web_client(user) -> tuple[Client, dict]:
    """The web UI's way to the API: the session cookie and the CSRF header."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.get("/")  # the page sets the csrftoken cookie
    return client, {"HTTP_X_CSRFTOKEN": client.cookies["csrftoken"].value}


@pytest.mark.parametrize("way", ["api token", "web session"])
def test_issue_11_a_folder_65_levels_deep_is_refused(alice, alice_api, way):
    deepest = make_folder_chain(alice, 64)[-1]
    client, headers = (alice_api, {}) if way == "api token" else web_client(alice)
    response = client.post(
        "/api/v1/folders/",
        {"name": "one too many", "parent": str(deepest.public_id)},
        content_type="application/json",
        **headers,
    )
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert "at most 64 levels" in response.json()["detail"]
    assert not Folder.objects.filter(name="one too many").exists()


def test_issue_11_moving_a_deep_subtree_under_a_deep_folder_past_the_cap_is_refused(
    alice, alice_api
):
    target = make_folder_chain(alice, 60, name="target")[-1]
    subtree = make_folder_chain(alice, 10, name="subtree")
    response = alice_api.patch(
        f"/api/v1/folders/{subtree[0].public_id}/",
        {"parent": str(target.public_id)},
        format="json",
    )
    assert response.status_code == 400
    assert "at most 64 levels" in response.json()["detail"]
    assert Folder.objects.get(pk=subtree[0].pk).parent_id == folder_get_root(alice).pk
    # The subtree's 4 top levels fit exactly (61–64): a move is judged by its deepest folder.
    response = alice_api.patch(
        f"/api/v1/folders/{subtree[6].public_id}/", {"parent": str(target.public_id)}, format="json"
    )
    assert response.status_code == 200
    assert depth_of(subtree[-1]) == 64


def test_issue_11_a_share_of_a_folder_1001_levels_deep_is_not_in_the_trash(alice, share_of):
    """A tree made before the cap existed stays readable: its ancestry is one query, not a walk
    that gave up after 1,000 levels and called the folder trashed."""
    parent = folder_get_root(alice)
    for level in range(1, 1002):
        parent = Folder.objects.create(
            owner=alice, parent=parent, name=f"{level}", name_key=f"{level}"
        )
    store_file(alice, "deep.txt", b"at the bottom", folder=parent)
    share, token = share_of(parent)
    page = Client().get(f"/s/{token}")
    assert page.status_code == 200
    assert "deep.txt" in page.content.decode()


def test_issue_11_shares_60_levels_deep_resolve_in_as_many_queries_as_shallow_ones(
    alice, share_of, django_assert_max_num_queries
):
    shallow_top = make_folder_chain(alice, 1, name="shallow")[-1]
    deep_top = make_folder_chain(alice, 10, name="deep")[-1]
    # Folder shares, with a file 50 levels below the shared folder (60 below the root) or 1.
    below = {
        shallow_top: make_folder_chain(alice, 1, parent=shallow_top)[-1],
        deep_top: make_folder_chain(alice, 50, parent=deep_top)[-1],
    }
    assert depth_of(below[deep_top]) == 60
    files = {top: store_file(alice, "x.txt", b"inside", folder=below[top]) for top in below}
    folder_shares = {top: share_of(top) for top in below}
    # Shares of the folders 60 levels (and 2) deep themselves.
    bottom_shares = {top: share_of(below[top]) for top in below}
    # A file share of a file 50 levels deep (and one at level 1).
    file_shares = {
        top: share_of(store_file(alice, "f.txt", b"file", folder=top))
        for top in (make_folder_chain(alice, 1, name="a")[-1], make_folder_chain(alice, 50)[-1])
    }
    upload_links = {top: upload_link_create(owner=alice, folder=below[top])[1] for top in below}
    client = Client()

    def open_upload_link(top):
        response = client.get(f"/r/{upload_links[top]}")
        assert response.status_code == 200

    def resolve_file_inside(top):
        share, token = folder_shares[top]
        opaque = opaque_id(share.token_hash, files[top].public_id)
        response = client.get(f"/s/{token}/files/{opaque}/download")
        assert response.status_code == 200
        assert b"".join(response.streaming_content) == b"inside"

    def browse_deepest_folder(top):
        share, token = folder_shares[top]
        response = client.get(
            f"/s/{token}/folders/{opaque_id(share.token_hash, below[top].public_id)}"
        )
        assert response.status_code == 200
        assert "x.txt" in response.content.decode()

    def open_deep_share(top):
        _share, token = bottom_shares[top]
        response = client.get(f"/s/{token}")
        assert response.status_code == 200
        assert "x.txt" in response.content.decode()

    def resolve_file_share(top):
        _share, token = file_shares[top]
        response = client.get(f"/s/{token}")
        assert response.status_code == 200
        assert "f.txt" in response.content.decode()

    def resolve_only(top):
        share, token = folder_shares[top]
        request = RequestFactory().get(f"/s/{token}")
        resolved = share_access.share_resolve(request, token)
        opaque = opaque_id(share.token_hash, files[top].public_id)
        assert share_selectors.share_file_get(resolved, opaque).pk == files[top].pk

    for check, (shallow, deep) in (
        (resolve_file_inside, (shallow_top, deep_top)),
        (browse_deepest_folder, (shallow_top, deep_top)),
        (resolve_only, (shallow_top, deep_top)),
        (open_deep_share, (shallow_top, deep_top)),
        (open_upload_link, (shallow_top, deep_top)),
        (resolve_file_share, tuple(file_shares)),
    ):
        check(shallow)
        at_1 = queries(lambda check=check, shallow=shallow: check(shallow))
        at_depth = queries(lambda check=check, deep=deep: check(deep))
        assert at_1 == at_depth, check.__name__
        with django_assert_max_num_queries(at_1):
            check(deep)


def _wait_until_another_connection_waits_for_a_lock() -> None:
    """PostgreSQL shows a blocked backend; SQLite's busy wait is invisible, so give it a moment
    (the outcome asserted below is the same whichever comes first)."""
    if connection.vendor != "postgresql":
        time.sleep(0.5)
        return
    for _attempt in range(200):
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                return
        time.sleep(0.05)
    raise AssertionError("the second request never waited for the first")


@pytest.mark.django_db(transaction=True)
def test_two_crossing_moves_at_once_never_make_a_cycle(alice):
    """Fault: "a into b" and "b into a" at the same moment. Each check alone passes; together
    they would detach both folders from the tree in a cycle. The second move must wait for the
    first and then see that it would be a move into its own subfolder."""
    a, b = make_folder(alice, "a"), make_folder(alice, "b")
    moved = threading.Event()
    release = threading.Event()
    outcome: dict[str, str] = {}

    def first():
        try:
            with transaction.atomic():
                services.folder_update(folder=Folder.objects.get(pk=a.pk), parent=b)
                moved.set()
                release.wait(30)
            outcome["first"] = "moved"
        finally:
            connection.close()

    def second():
        try:
            services.folder_update(folder=Folder.objects.get(pk=b.pk), parent=a)
            outcome["second"] = "moved"
        except services.InvalidMove:
            outcome["second"] = "refused"
        finally:
            connection.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    threads[0].start()
    assert moved.wait(30)
    threads[1].start()
    _wait_until_another_connection_waits_for_a_lock()
    release.set()
    for thread in threads:
        thread.join(60)
    assert outcome == {"first": "moved", "second": "refused"}
    root = folder_get_root(alice).pk
    assert Folder.objects.get(pk=a.pk).parent_id == b.pk
    assert Folder.objects.get(pk=b.pk).parent_id == root


@pytest.mark.django_db(transaction=True)
def test_an_upload_cannot_take_the_name_of_a_folder_a_path_is_creating_beside_it(alice):
    """Race: an upload with `path` "a/b" (a exists) creates folder b in a while another upload
    stores a file named "b" straight into a. The path locked only the folder it starts from,
    the upload only a: both passed their name check, and a held a folder and a file of the
    same name. The second must wait for the first and then be refused."""
    a = make_folder(alice, "a")
    created = threading.Event()
    release = threading.Event()
    outcome: dict[str, str] = {}

    def path_upload():
        try:
            with transaction.atomic():
                services.folder_ensure_path(user=alice, parent=None, path="a/b")
                created.set()
                release.wait(30)
            outcome["path"] = "created"
        finally:
            connection.close()

    def file_upload():
        try:
            store_file(alice, "B", b"same name, other case", folder=Folder.objects.get(pk=a.pk))
            outcome["file"] = "stored"
        except services.NameConflict:
            outcome["file"] = "refused"
        finally:
            connection.close()

    threads = [threading.Thread(target=path_upload), threading.Thread(target=file_upload)]
    threads[0].start()
    assert created.wait(30)
    threads[1].start()
    try:
        _wait_until_another_connection_waits_for_a_lock()
    finally:
        release.set()
        for thread in threads:
            thread.join(60)
    assert outcome == {"path": "created", "file": "refused"}
    names = [f.name for f in Folder.objects.filter(parent=a)] + [
        f.name for f in a.files.filter(deleted_at__isnull=True)
    ]
    assert names == ["b"]
