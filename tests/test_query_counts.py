"""Every hot path runs a number of queries that does not grow with the data (issue 14).

Each test measures a path with Django's CaptureQueriesContext on a small tree and on a big one
(a target 2 and 60 folders deep; a list of 5 and of 500 items) and asserts the same count, and
for link resolution a ceiling of 3. The rows of the long lists are made in bulk: what is
measured is the request, not how the rows came to be.
"""

import html
import re
import secrets
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import ApiToken, AuditEvent
from files.models import File, Folder
from files.names import name_key
from files.selectors import folder_get_root
from sharing import access
from sharing.models import ShareLink, UploadLink
from sharing.services import share_create
from sharing.upload_links import upload_link_create
from storage.models import Blob
from tests.fixtures.files import make_file, make_folder_chain

DEPTHS = (2, 60)
SIZES = (5, 500)


def count_queries(run) -> int:
    with CaptureQueriesContext(connection) as captured:
        run()
    return len(captured.captured_queries)


def bulk_files(user, folder: Folder, count: int, *, prefix: str = "file") -> list[File]:
    """`count` files in `folder` (rows only: listings never read content)."""
    now = timezone.now()
    blobs = Blob.objects.bulk_create(
        Blob(
            storage_key=f"test/{uuid.uuid4().hex}",
            master_key_id="test",
            wrapped_key=b"",
            segment_size=65536,
            size=10,
            state=Blob.State.COMPLETE,
            completed_at=now,
        )
        for _ in range(count)
    )
    if not all(blob.pk for blob in blobs):  # backends that return no ids on bulk insert
        blobs = list(Blob.objects.filter(master_key_id="test").order_by("-pk")[:count])
    names = [f"{prefix} {number:04}.txt" for number in range(count)]
    File.objects.bulk_create(
        File(
            owner=user,
            folder=folder,
            name=name,
            name_key=name_key(name),
            blob=blob,
            size=10,
            content_type="text/plain",
            sha256="0" * 64,
            state=File.State.READY,
            thumbnail_state="none",
        )
        for name, blob in zip(names, blobs, strict=True)
    )
    return list(File.objects.filter(owner=user, name__startswith=prefix + " "))


def get_request(path: str = "/"):
    return RequestFactory().get(path, REMOTE_ADDR="203.0.113.9")


@pytest.fixture
def deep_trees(alice, settings):
    """The deepest folder of a chain of each depth in DEPTHS, each holding a file."""
    settings.LOCKER_MAX_FOLDER_DEPTH = 64
    trees = {}
    for depth in DEPTHS:
        chain = make_folder_chain(alice, depth, name=f"d{depth}")
        trees[depth] = (chain[-1], make_file(alice, "inside.txt", b"x", folder=chain[-1]))
    return trees


# --- Link resolution: at most 3 queries, whatever the depth ------------------------------------


def resolution_costs(deep_trees, make_link, resolve) -> dict[int, int]:
    """depth → the queries of `resolve(request, token)` for the link `make_link(folder, file)`
    (→ (link, token)) made on the target of that depth."""
    counts = {}
    for depth, (folder, file) in deep_trees.items():
        _link, token = make_link(folder, file)
        counts[depth] = count_queries(lambda token=token: resolve(get_request(), token))
    return counts


@pytest.mark.django_db
def test_share_resolution_of_a_file_link_is_three_queries_at_most_at_any_depth(alice, deep_trees):
    counts = resolution_costs(
        deep_trees, lambda _folder, file: share_create(owner=alice, file=file), access.share_resolve
    )
    assert counts[2] == counts[60] <= 3, counts


@pytest.mark.django_db
def test_share_resolution_of_a_folder_link_is_three_queries_at_most_at_any_depth(alice, deep_trees):
    counts = resolution_costs(
        deep_trees,
        lambda folder, _file: share_create(owner=alice, folder=folder),
        access.share_resolve,
    )
    assert counts[2] == counts[60] <= 3, counts


@pytest.mark.django_db
def test_upload_link_resolution_is_three_queries_at_most_at_any_depth(alice, deep_trees):
    counts = resolution_costs(
        deep_trees,
        lambda folder, _file: upload_link_create(owner=alice, folder=folder),
        access.upload_link_resolve,
    )
    assert counts[2] == counts[60] <= 3, counts


@pytest.mark.django_db
def test_a_file_share_page_costs_the_same_at_any_depth(alice, deep_trees, client):
    counts = {}
    for depth, (_folder, file) in deep_trees.items():
        _share, token = share_create(owner=alice, file=file)
        client.get(f"/s/{token}")  # warm: first-request work (sessions, caches) is not measured
        counts[depth] = count_queries(lambda token=token: client.get(f"/s/{token}"))
    assert counts[2] == counts[60], counts


@pytest.mark.django_db
def test_a_folder_share_page_costs_the_same_at_any_depth_and_size(alice, client, settings):
    settings.LOCKER_MAX_FOLDER_DEPTH = 64
    counts = {}
    for depth, size in zip(DEPTHS, SIZES, strict=True):
        folder = make_folder_chain(alice, depth, name=f"s{depth}")[-1]
        bulk_files(alice, folder, size, prefix=f"in{depth}")
        _share, token = share_create(owner=alice, folder=folder)
        client.get(f"/s/{token}")
        counts[(depth, size)] = count_queries(lambda token=token: client.get(f"/s/{token}"))
    assert len(set(counts.values())) == 1, counts


# --- Folder detail with its breadcrumbs --------------------------------------------------------


@pytest.mark.django_db
def test_folder_detail_with_breadcrumbs_costs_the_same_at_any_depth(alice_api, deep_trees):
    alice_api.get("/api/v1/me/")  # the token's first use is recorded once, not measured
    counts = {}
    for depth, (folder, _file) in deep_trees.items():
        url = f"/api/v1/folders/{folder.public_id}/"
        response = alice_api.get(url)
        assert len(response.json()["path"]) == depth
        counts[depth] = count_queries(lambda url=url: alice_api.get(url))
    assert counts[2] == counts[60], counts


# --- The owner's lists: a constant number per page ---------------------------------------------


def page_costs(api, url_for_size: dict[int, str]) -> dict[str, int]:
    """The queries of a list's first page and of a late one (the last, reached by following
    `next`: a keyset page deep into the list), for each list size. Pages of about a fifth of
    the list, so that even the list of 5 has a late page."""
    api.get("/api/v1/me/")
    counts = {}
    for size, url in url_for_size.items():
        first = f"{url}{'&' if '?' in url else '?'}page_size={max(2, size // 5)}"
        response = api.get(first)
        assert response.status_code == 200, response.content
        body, seen, late = response.json(), 0, None
        seen += len(body["results"])
        while body["next"]:
            late = body["next"]
            body = api.get(late).json()
            seen += len(body["results"])
        assert late and seen >= size, (late, seen)
        counts[f"{size}, first page"] = count_queries(lambda first=first: api.get(first))
        counts[f"{size}, late page"] = count_queries(lambda late=late: api.get(late))
    return counts


def assert_all_equal(counts: dict) -> None:
    assert len(set(counts.values())) == 1, counts


def owner_list_costs(alice, bob, url: str, make_rows) -> dict[str, int]:
    """page_costs of `url` for its owner: alice with 5 rows, bob with 500, made by
    `make_rows(owner, size)` once the owner has an API client (and its token)."""
    from tests.fixtures.users import api_client_for

    counts = {}
    for owner, size in ((alice, SIZES[0]), (bob, SIZES[1])):
        api = api_client_for(owner)
        make_rows(owner, size)
        counts |= page_costs(api, {size: url})
    return counts


@pytest.fixture
def two_folders(alice):
    root = folder_get_root(alice)
    small = Folder.objects.create(owner=alice, parent=root, name="small", name_key="small")
    big = Folder.objects.create(owner=alice, parent=root, name="big", name_key="big")
    return {SIZES[0]: small, SIZES[1]: big}


@pytest.mark.django_db
def test_file_listing_page_costs_the_same_for_5_and_500_files(alice_api, alice, two_folders):
    urls = {}
    for size, folder in two_folders.items():
        bulk_files(alice, folder, size, prefix=f"f{size}")
        urls[size] = f"/api/v1/files/?folder={folder.public_id}"
    assert_all_equal(page_costs(alice_api, urls))


@pytest.mark.django_db
def test_a_confined_scoped_token_lists_and_searches_at_the_cost_of_a_full_token(
    alice_api, alice, two_folders
):
    """Scopes and folder confinement add no query: the scope is read from the token row the
    authentication already fetched, and the subtree is a subquery of the listing's query."""
    from rest_framework.test import APIClient

    from accounts.services import api_token_create

    top = Folder.objects.create(
        owner=alice, parent=folder_get_root(alice), name="top", name_key="top"
    )
    Folder.objects.filter(pk__in=[f.pk for f in two_folders.values()]).update(parent=top)
    _token, secret = api_token_create(
        user=alice, name="confined", scopes=["files:read"], folder=top
    )
    confined = APIClient()
    confined.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    urls = {}
    for size, folder in two_folders.items():
        bulk_files(alice, folder, size, prefix=f"f{size}")
        urls[size] = f"/api/v1/files/?folder={folder.public_id}"
    full, scoped = page_costs(alice_api, urls), page_costs(confined, urls)
    assert_all_equal(full | {f"confined {key}": value for key, value in scoped.items()})
    search = "/api/v1/files/?search=f500"
    costs = {
        "full": count_queries(lambda: alice_api.get(search)),
        "confined": count_queries(lambda: confined.get(search)),
    }
    assert_all_equal(costs)
    assert len(confined.get(search).json()["results"]) == 50


@pytest.mark.django_db
def test_share_list_page_costs_the_same_for_5_and_500_links(alice, bob, settings):
    settings.LOCKER_MAX_FOLDER_DEPTH = 64

    def links(owner, size: int) -> None:
        # Files at different depths and folders: each link's status needs its target's chain.
        chain = make_folder_chain(owner, 3, name="shared")
        files = bulk_files(owner, chain[-1], size, prefix="shared")
        ShareLink.objects.bulk_create(
            ShareLink(
                owner=owner,
                file=file if number % 2 else None,
                folder=None if number % 2 else chain[number % 3],
                token_hash=secrets.token_hex(32),
            )
            for number, file in enumerate(files)
        )

    assert_all_equal(owner_list_costs(alice, bob, "/api/v1/shares/", links))


@pytest.mark.django_db
def test_share_list_statuses_stay_right(alice_api, alice, settings):
    """What the one-query status says, item by item (the same sentences as before)."""
    chain = make_folder_chain(alice, 3, name="status")
    alive = make_file(alice, "alive.txt", b"a", folder=chain[-1])
    under_trashed = make_file(alice, "under.txt", b"b", folder=chain[-1])
    gone = make_file(alice, "gone.txt", b"c", folder=chain[0])
    share_create(owner=alice, file=alive, label="file below trashed")
    share_create(owner=alice, folder=chain[1], label="folder active")
    share_create(owner=alice, file=gone, label="file trashed")
    share_create(owner=alice, file=under_trashed, label="parent trashed")
    share_create(owner=alice, folder=chain[2], label="folder parent trashed")
    revoked, _ = share_create(owner=alice, file=alive, label="revoked")
    expired, _ = share_create(owner=alice, file=alive, label="expired")
    used, _ = share_create(owner=alice, file=alive, label="exhausted", max_downloads=1)
    from files.services import file_trash, folder_trash

    file_trash(file=gone)
    # Trash the middle folder: what is below it is gone with it, though not trashed as a root.
    folder_trash(folder=chain[1])
    ShareLink.objects.filter(pk=revoked.pk).update(revoked_at=timezone.now())
    ShareLink.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(1))
    ShareLink.objects.filter(pk=used.pk).update(download_count=1)
    statuses = {
        row["label"]: row["status"] for row in alice_api.get("/api/v1/shares/").json()["results"]
    }
    assert statuses == {
        "file below trashed": "unavailable",
        "folder active": "unavailable",
        "file trashed": "unavailable",
        "parent trashed": "unavailable",
        "folder parent trashed": "unavailable",
        "revoked": "revoked",
        "expired": "expired",
        "exhausted": "exhausted",
    }


@pytest.mark.django_db
def test_share_list_status_active_for_a_live_target(alice_api, alice):
    folder = make_folder_chain(alice, 2, name="live")[-1]
    file = make_file(alice, "live.txt", b"a", folder=folder)
    share_create(owner=alice, file=file, label="file")
    share_create(owner=alice, folder=folder, label="folder")
    statuses = {
        row["label"]: row["status"] for row in alice_api.get("/api/v1/shares/").json()["results"]
    }
    assert statuses == {"file": "active", "folder": "active"}


@pytest.mark.django_db
def test_upload_link_list_page_costs_the_same_for_5_and_500_links(alice, bob):
    def links(owner, size: int) -> None:
        folder = make_folder_chain(owner, 2, name="inbox")[-1]
        UploadLink.objects.bulk_create(
            UploadLink(owner=owner, folder=folder, token_hash=secrets.token_hex(32))
            for _ in range(size)
        )

    assert_all_equal(owner_list_costs(alice, bob, "/api/v1/upload-links/", links))


@pytest.mark.django_db
def test_token_list_page_costs_the_same_for_5_and_500_tokens(alice, bob):
    def tokens(owner, size: int) -> None:  # and the API client's own
        ApiToken.objects.bulk_create(
            ApiToken(user=owner, name=f"t{n}", token_hash=secrets.token_hex(32), prefix="x")
            for n in range(size - 1)
        )

    assert_all_equal(owner_list_costs(alice, bob, "/api/v1/tokens/", tokens))


def bulk_trash(user, size: int, *, prefix: str) -> None:
    root = folder_get_root(user)
    files = bulk_files(user, root, size // 2, prefix=prefix)
    now = timezone.now()
    File.objects.filter(pk__in=[f.pk for f in files]).update(deleted_at=now, trashed_as_root=True)
    for number in range(size - size // 2):
        folder = Folder.objects.create(
            owner=user,
            parent=root,
            name=f"{prefix} dir {number}",
            name_key=f"{prefix} dir {number}",
            deleted_at=now - timedelta(seconds=number),
            trashed_as_root=True,
        )
        Folder.objects.filter(pk=folder.pk).update(trash_root=folder)


@pytest.mark.django_db
def test_trash_list_page_costs_the_same_for_5_and_500_items(alice, bob):
    from tests.fixtures.users import api_client_for

    apis = {}
    for owner, size in ((alice, 5), (bob, 500)):
        bulk_trash(owner, size, prefix=owner.username)
        apis[size] = api_client_for(owner)
    counts = {}
    for size, api in apis.items():
        counts |= page_costs(api, {size: "/api/v1/trash/"})
    assert_all_equal(counts)
    # The numbered pages kept for the web UI: a count and a page, whatever the size.
    numbered = {
        size: count_queries(lambda api=api: api.get("/api/v1/trash/?page=1"))
        for size, api in apis.items()
    }
    assert numbered[5] == numbered[500], numbered


@pytest.mark.django_db
def test_audit_list_page_costs_the_same_for_5_and_500_events(alice, bob):
    def events(owner, size: int) -> None:
        AuditEvent.objects.bulk_create(
            AuditEvent(
                actor=owner, actor_label=owner.username, subject=owner, action="login.success"
            )
            for _ in range(size)
        )

    assert_all_equal(owner_list_costs(alice, bob, "/api/v1/audit/", events))


@pytest.mark.django_db
def test_the_trash_page_is_cut_in_the_database(alice, alice_api):
    """The page is a LIMIT of one query over files and folders, never every trashed item read
    and sorted in Python."""
    bulk_trash(alice, 40, prefix="gone")
    alice_api.get("/api/v1/me/")
    with CaptureQueriesContext(connection) as captured:
        response = alice_api.get("/api/v1/trash/?page_size=7&page=2")
    reads = [
        query["sql"]
        for query in captured.captured_queries
        if "files_file" in query["sql"] and "COUNT(" not in query["sql"].upper()
    ]
    assert reads and all("LIMIT" in sql.upper() for sql in reads), reads
    body = response.json()
    assert body["count"] == 40
    assert len(body["results"]) == 7


@pytest.mark.django_db
def test_a_late_trash_cursor_page_is_one_limited_query_without_a_count(alice, alice_api):
    """A keyset page of the trash: the seek condition in both halves of the union, one LIMIT,
    nothing counted."""
    bulk_trash(alice, 40, prefix="gone")
    alice_api.get("/api/v1/me/")
    body = alice_api.get("/api/v1/trash/?page_size=7").json()
    late = alice_api.get(body["next"]).json()["next"]
    with CaptureQueriesContext(connection) as captured:
        response = alice_api.get(late)
    reads = [query["sql"] for query in captured.captured_queries if "files_file" in query["sql"]]
    assert len(reads) == 1 and "LIMIT" in reads[0].upper(), reads
    assert "COUNT(" not in reads[0].upper()
    assert reads[0].count("<=") >= 2, "the bound on deleted_at in each half"
    assert len(response.json()["results"]) == 7


@pytest.mark.django_db
def test_the_trash_list_is_newest_first_with_folder_sizes(alice, alice_api):
    from files.services import file_trash, folder_trash
    from tests.fixtures.files import make_folder

    old = make_file(alice, "old.txt", b"12345")
    file_trash(file=old)
    folder = make_folder(alice, "album")
    make_file(alice, "a.jpg", b"123", folder=folder)
    make_file(alice, "b.jpg", b"1234", folder=make_folder(alice, "inner", parent=folder))
    folder_trash(folder=folder)
    empty = make_folder(alice, "empty")
    folder_trash(folder=empty)
    same_time = timezone.now()
    File.objects.filter(pk=old.pk).update(deleted_at=same_time)
    Folder.objects.filter(pk=empty.pk).update(deleted_at=same_time)
    rows = alice_api.get("/api/v1/trash/").json()["results"]
    tied = sorted([str(old.public_id), str(empty.public_id)], reverse=True)
    assert [row["id"] for row in rows[:2]] == tied
    assert {row["name"]: (row["type"], row["size"]) for row in rows} == {
        "old.txt": ("file", 5),
        "album": ("folder", 7),
        "empty": ("folder", 0),
    }
    assert rows[2]["name"] == "album"


@pytest.mark.django_db
def test_a_folder_share_page_derives_its_key_once_whatever_it_lists(alice, client, monkeypatch):
    """Every listed item has an opaque id: the share's key is derived and its cipher set up
    once (for the process: sharing.tokens.opaque_ids_cached), not once per item (the real
    function, counted)."""
    from sharing import tokens

    folder = make_folder_chain(alice, 2, name="many")[-1]
    for number in range(3):
        Folder.objects.create(
            owner=alice, parent=folder, name=f"sub {number}", name_key=f"sub {number}"
        )
    bulk_files(alice, folder, 150, prefix="item")
    _share, token = share_create(owner=alice, folder=folder)
    first = client.get(f"/s/{token}")
    next_page = re.search(r'href="\?after=([^"]+)"', first.content.decode())
    assert next_page, "a page of 100 items leads to the next"
    derived = []
    real = tokens._share_cipher
    monkeypatch.setattr(tokens, "_share_cipher", lambda h: derived.append(h) or real(h))
    tokens._opaque_ids.cache_clear()  # kept per process: the first page set it up already
    response = client.get(f"/s/{token}?after={html.unescape(next_page.group(1))}")
    assert response.status_code == 200
    assert response.content.decode().count("item ") >= 53
    assert len(derived) == 1, len(derived)


# --- Before the view: what every API request costs ---------------------------------------------


@pytest.fixture
def database_cache(settings):
    """The database cache as the default (Locker's default when LOCKER_CACHE_URL is unset), so
    the throttle's queries are counted whatever cache the test run was given."""
    from django.core.management import call_command

    settings.CACHES = {
        **settings.CACHES,
        "default": {"BACKEND": "locker.cache.DatabaseCache", "LOCATION": "locker_cache"},
    }
    call_command("createcachetable", verbosity=0)


def queries_of(run) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        run()
    return [query["sql"] for query in captured.captured_queries]


@pytest.mark.django_db
def test_a_token_request_costs_one_query_for_the_token_and_two_for_the_throttle(
    alice, alice_api, database_cache
):
    """Token and user in one query; the user's rate limit counted with a read and a
    conditional write (no transaction); no session, no write of `last_used_at` within a
    minute of the last one."""
    assert alice_api.get("/api/v1/me/").status_code == 200  # the first use is recorded once
    queries = queries_of(lambda: alice_api.get("/api/v1/me/"))
    token_queries = [sql for sql in queries if "accounts_apitoken" in sql]
    cache_queries = [sql for sql in queries if "locker_cache" in sql]
    assert len(token_queries) == 1, token_queries
    assert '"accounts_user"' in token_queries[0] and token_queries[0].startswith("SELECT")
    assert len(cache_queries) == 2, cache_queries
    assert not [sql for sql in queries if sql in ("BEGIN", "COMMIT") or "SAVEPOINT" in sql]
    assert not [sql for sql in queries if "django_session" in sql]


@pytest.mark.django_db
def test_a_token_request_records_its_use_at_most_once_a_minute(alice, alice_api, database_cache):
    from datetime import timedelta

    assert alice_api.get("/api/v1/me/").status_code == 200
    token = ApiToken.objects.get(user=alice)
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now() - timedelta(minutes=2))
    writes = [sql for sql in queries_of(lambda: alice_api.get("/api/v1/me/")) if "UPDATE" in sql]
    assert [sql for sql in writes if "accounts_apitoken" in sql], writes
    writes = [sql for sql in queries_of(lambda: alice_api.get("/api/v1/me/")) if "UPDATE" in sql]
    assert not [sql for sql in writes if "accounts_apitoken" in sql], writes


@pytest.mark.django_db
def test_the_database_cache_throttle_still_limits(alice, alice_api, database_cache, monkeypatch):
    """The two-statement count is still a count: the user limit answers 429 past it."""
    from locker.throttle import UserRateThrottle

    monkeypatch.setitem(UserRateThrottle.THROTTLE_RATES, "user", "3/min")
    statuses = [alice_api.get("/api/v1/me/").status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429], statuses


@pytest.mark.django_db
def test_quota_check_reserve_and_release_cost_a_constant_few_queries(alice):
    """Reserve: lock the user's row, read the live reservations' sizes, insert (with the
    transaction's BEGIN and COMMIT); release: one statement on PostgreSQL."""
    from files.services import upload_reservation_create, upload_reservation_release

    reservation = upload_reservation_create(user=alice, size=10)
    upload_reservation_release(reservation=reservation)
    reserve = queries_of(lambda: upload_reservation_create(user=alice, size=10))
    assert len([sql for sql in reserve if sql not in ("BEGIN", "COMMIT")]) == 3, reserve
    assert not [sql for sql in reserve if "SAVEPOINT" in sql], reserve
    reservation = upload_reservation_create(user=alice, size=10)
    release = queries_of(lambda: upload_reservation_release(reservation=reservation))
    if connection.vendor == "postgresql":
        assert len(release) == 1, release
