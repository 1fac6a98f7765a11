"""Keyset (cursor) pages of every API list (locker.api.Pagination, locker.keyset).

Walking a list by its `next` links gives every item once, in the list's order, whatever the
ties; `previous` walks back; rows added or removed between two pages neither repeat nor hide
the rows that were there throughout; a cursor that was not made by this list in this order is
refused with a sentence; `page=N` still answers as before, with a count.
"""

import base64
import contextlib
import secrets
import zlib
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone

from accounts.models import ApiToken, AuditEvent
from files import selectors
from files.models import File, Folder, UploadReservation
from files.selectors import folder_get_root
from locker import keyset
from sharing.models import ShareAccess, ShareLink, UploadLink
from tests.fixtures.users import make_user
from tests.test_query_counts import bulk_files, bulk_trash

pytestmark = pytest.mark.django_db


def walk(api, url: str) -> tuple[list[str], list[str]]:
    """The ids of every item, following `next` from `url`; and the `next` links followed."""
    ids, links = [], []
    while url:
        response = api.get(url)
        assert response.status_code == 200, response.content
        body = response.json()
        assert "count" not in body
        ids += [str(item["id"]) for item in body["results"]]
        url = body["next"]
        if url:
            links.append(url)
    return ids, links


def numbered(api, url: str) -> list[str]:
    """The same list in one numbered page (the order the database gives, as before)."""
    sep = "&" if "?" in url else "?"
    body = api.get(f"{url}{sep}page=1&page_size=500").json()
    assert body["count"] == len(body["results"])
    return [str(item["id"]) for item in body["results"]]


def assert_walks_exactly_once(api, url: str, *, page_size: int = 3) -> list[str]:
    sep = "&" if "?" in url else "?"
    walked, _links = walk(api, f"{url}{sep}page_size={page_size}")
    assert len(walked) == len(set(walked)), "an item came twice"
    assert walked == numbered(api, url)
    return walked


@pytest.fixture
def tied_folder(alice):
    """Twenty files with few distinct sizes and times: ties everywhere but in the name."""
    folder = Folder.objects.create(
        owner=alice, parent=folder_get_root(alice), name="ties", name_key="ties"
    )
    files = bulk_files(alice, folder, 20, prefix="tie")
    moment = timezone.now()
    for number, file in enumerate(files):
        File.objects.filter(pk=file.pk).update(
            size=(number % 3) * 100,
            modified_at=moment - timedelta(seconds=number % 2),
            created_at=moment,
        )
    return folder


@pytest.mark.parametrize("ordering", list(selectors.FILE_ORDERINGS))
def test_walking_a_folder_gives_every_file_once_in_order(alice, alice_api, tied_folder, ordering):
    url = f"/api/v1/files/?folder={tied_folder.public_id}&ordering={ordering}"
    walked = assert_walks_exactly_once(alice_api, url)
    assert len(walked) == 20
    files = {str(f.public_id): f for f in File.objects.filter(folder=tied_folder)}

    def key(file):
        # The order the ordering names, computed here: strings by their case-folded key (the
        # test names are ASCII, so Python's order is the database's), ties by the row id.
        parts = []
        for term in selectors.FILE_ORDERINGS[ordering]:
            value = getattr(file, term.lstrip("-"))
            if isinstance(value, str):
                value = [-ord(c) for c in value] if term.startswith("-") else [*map(ord, value)]
            elif term.startswith("-"):
                value = -(value.timestamp() if hasattr(value, "timestamp") else value)
            elif hasattr(value, "timestamp"):
                value = value.timestamp()
            parts.append(value)
        return parts

    assert walked == [str(f.public_id) for f in sorted(files.values(), key=key)]


def test_a_search_with_the_same_name_in_many_folders_walks_once(alice, alice_api):
    root = folder_get_root(alice)
    for number in range(7):
        folder = Folder.objects.create(
            owner=alice, parent=root, name=f"d{number}", name_key=f"d{number}"
        )
        bulk_files(alice, folder, 1, prefix="same")
        Folder.objects.create(owner=alice, parent=folder, name="same", name_key="same")
    assert len(assert_walks_exactly_once(alice_api, "/api/v1/files/?search=same", page_size=2)) == 7
    folders = assert_walks_exactly_once(alice_api, "/api/v1/folders/?search=same", page_size=2)
    assert len(folders) == 7


def test_walking_a_folder_list_gives_every_folder_once(alice, alice_api):
    root = folder_get_root(alice)
    Folder.objects.bulk_create(
        Folder(owner=alice, parent=root, name=f"Sub {n:02}", name_key=f"sub {n:02}")
        for n in range(11)
    )
    assert len(assert_walks_exactly_once(alice_api, "/api/v1/folders/")) == 11


def test_walking_the_trash_gives_every_item_once_with_ties(alice, alice_api):
    bulk_trash(alice, 14, prefix="gone")
    moment = timezone.now()
    File.objects.filter(owner=alice).update(deleted_at=moment)
    Folder.objects.filter(owner=alice, trashed_as_root=True, name__endswith="1").update(
        deleted_at=moment
    )
    walked = assert_walks_exactly_once(alice_api, "/api/v1/trash/")
    assert len(walked) == 14


def _same_time_links(model, owner, count, **fields):
    moment = timezone.now()
    model.objects.bulk_create(
        model(owner=owner, token_hash=secrets.token_hex(32), created_at=moment, **fields)
        for _ in range(count)
    )


def test_walking_the_share_list_gives_every_link_once(alice, alice_api):
    file = bulk_files(alice, folder_get_root(alice), 1, prefix="shared")[0]
    _same_time_links(ShareLink, alice, 10, file=file)
    assert len(assert_walks_exactly_once(alice_api, "/api/v1/shares/")) == 10


def test_walking_a_share_access_log_gives_every_download_once(alice, alice_api):
    file = bulk_files(alice, folder_get_root(alice), 1, prefix="shared")[0]
    _same_time_links(ShareLink, alice, 1, file=file)
    share = ShareLink.objects.get(owner=alice)
    moment = timezone.now()
    ShareAccess.objects.bulk_create(
        ShareAccess(share=share, at=moment - timedelta(seconds=n % 2), name=f"download {n}")
        for n in range(8)
    )
    url = f"/api/v1/shares/{share.public_id}/accesses/"
    names, body = [], alice_api.get(url + "?page_size=3").json()
    names += [item["name"] for item in body["results"]]
    while body["next"]:
        body = alice_api.get(body["next"]).json()
        names += [item["name"] for item in body["results"]]
    expected = ShareAccess.objects.filter(share=share).order_by("-at", "-id")
    assert names == [access.name for access in expected]
    assert len(set(names)) == 8


def test_walking_the_upload_link_list_gives_every_link_once(alice, alice_api):
    _same_time_links(UploadLink, alice, 9, folder=folder_get_root(alice))
    assert len(assert_walks_exactly_once(alice_api, "/api/v1/upload-links/")) == 9


def test_walking_the_token_list_gives_every_token_once(alice, alice_api):
    moment = timezone.now()
    ApiToken.objects.bulk_create(
        ApiToken(user=alice, name=f"t{n}", token_hash=secrets.token_hex(32), created_at=moment)
        for n in range(8)
    )
    assert len(assert_walks_exactly_once(alice_api, "/api/v1/tokens/")) == 9


def test_walking_the_audit_log_gives_every_event_once(alice, alice_api):
    moment = timezone.now()
    AuditEvent.objects.bulk_create(
        AuditEvent(actor=alice, subject=alice, action="login.success", created_at=moment)
        for _ in range(10)
    )
    assert len(assert_walks_exactly_once(alice_api, "/api/v1/audit/")) >= 10


def test_walking_the_uploads_in_progress_gives_every_upload_once(alice, alice_api):
    moment = timezone.now()
    UploadReservation.objects.bulk_create(
        UploadReservation(
            owner=alice, size=1, created_at=moment, expires_at=moment + timedelta(hours=1)
        )
        for _ in range(7)
    )
    assert len(assert_walks_exactly_once(alice_api, "/api/v1/uploads/")) == 7


def test_walking_the_user_list_gives_every_user_once(staff_api):
    for number in range(6):
        make_user(f"user{number}")
    assert len(assert_walks_exactly_once(staff_api, "/api/v1/users/")) == 7


# --- Back and forth, and changes between pages -----------------------------------------------


def test_previous_walks_back_through_the_same_pages(alice, alice_api, tied_folder):
    url = f"/api/v1/files/?folder={tied_folder.public_id}&ordering=-size&page_size=3"
    pages = []
    body = alice_api.get(url).json()
    assert body["previous"] is None
    pages.append([item["id"] for item in body["results"]])
    while body["next"]:
        body = alice_api.get(body["next"]).json()
        pages.append([item["id"] for item in body["results"]])
    back = [pages[-1]]
    while body["previous"]:
        body = alice_api.get(body["previous"]).json()
        back.append([item["id"] for item in body["results"]])
    assert back[::-1] == pages
    # And forward again from a page reached backwards: the second page, as numbered.
    again = alice_api.get(body["next"]).json()["results"]
    assert again == alice_api.get(f"{url}&page=2").json()["results"]


def test_rows_added_and_removed_between_pages_do_not_repeat_or_hide_the_others(
    alice, alice_api, tied_folder
):
    url = f"/api/v1/files/?folder={tied_folder.public_id}&page_size=5"
    everyone = set(numbered(alice_api, f"/api/v1/files/?folder={tied_folder.public_id}"))
    body = alice_api.get(url).json()
    seen = [item["id"] for item in body["results"]]
    # Between pages: the first item of the next page and one already seen go away, and new
    # files appear before the cursor and after it.
    upcoming = alice_api.get(body["next"]).json()["results"]
    gone = {seen[0], upcoming[0]["id"]}
    File.objects.filter(public_id__in=gone).update(deleted_at=timezone.now())
    bulk_files(alice, tied_folder, 2, prefix="aaa")  # sorts before every "tie" file
    bulk_files(alice, tied_folder, 2, prefix="zzz")  # after them
    while body["next"]:
        body = alice_api.get(body["next"]).json()
        seen += [item["id"] for item in body["results"]]
    assert len(seen) == len(set(seen)), "an item came twice"
    assert everyone - gone <= set(seen)
    assert upcoming[0]["id"] not in seen


# --- Refused cursors ---------------------------------------------------------------------------


def cursor_of(link: str) -> str:
    return parse_qs(urlsplit(link).query)["cursor"][0]


@pytest.fixture
def next_link(alice_api, tied_folder):
    return alice_api.get(f"/api/v1/files/?folder={tied_folder.public_id}&page_size=2").json()[
        "next"
    ]


def assert_refused(response, word: str):
    assert response.status_code == 400, response.content
    detail = response.json()["detail"]
    assert word in detail and detail.endswith("."), detail


def test_a_tampered_cursor_is_refused_with_a_sentence(alice_api, tied_folder, next_link, settings):
    cursor = cursor_of(next_link)
    url = f"/api/v1/files/?folder={tied_folder.public_id}&cursor="
    for position in (0, 10, len(cursor) // 2, len(cursor) - 3):
        flipped = cursor[:position] + ("A" if cursor[position] != "A" else "B")
        assert_refused(alice_api.get(url + flipped + cursor[position + 1 :]), "not valid")
    payload = keyset.unseal(cursor)
    payload["v"][0] = ["s", "other"]
    real_key = settings.SECRET_KEY
    settings.SECRET_KEY = "someone else's key" * 3
    forged = keyset.seal(payload)
    settings.SECRET_KEY = real_key
    assert_refused(alice_api.get(url + forged), "not valid")


def test_a_cursor_names_nothing_of_its_rows(alice, alice_api, tied_folder):
    """Finding L1: the cursor was signed, not encrypted, and named the last row's values (a
    file's name): any holder of a link could read them. Now nothing in it is readable."""
    bulk_files(alice, tied_folder, 3, prefix="Secret merger plans")
    body = alice_api.get(f"/api/v1/files/?folder={tied_folder.public_id}&page_size=2").json()
    assert body["results"][-1]["name"].startswith("Secret merger plans")
    cursor = cursor_of(body["next"])
    readable = [cursor.encode()]
    for text in (cursor, cursor.lstrip(".")):
        try:
            raw = base64.urlsafe_b64decode(text.split(":")[0] + "=" * (-len(text) % 4))
        except ValueError:
            continue
        readable.append(raw)
        for start in range(len(raw)):
            with contextlib.suppress(zlib.error):
                readable.append(zlib.decompress(raw[start:]))
    assert not any(b"Secret merger" in data or b"tie" in data for data in readable)
    # The same position twice makes two different cursors (a random nonce).
    again = alice_api.get(f"/api/v1/files/?folder={tied_folder.public_id}&page_size=2").json()
    assert cursor_of(again["next"]) != cursor


def test_a_cursor_made_before_the_secret_key_was_rotated_still_works_while_it_is_kept(
    alice_api, tied_folder, next_link, settings
):
    old_key = settings.SECRET_KEY
    settings.SECRET_KEY = "a new secret key after rotation" * 2
    settings.SECRET_KEY_FALLBACKS = [old_key]
    assert alice_api.get(next_link).status_code == 200
    settings.SECRET_KEY_FALLBACKS = []
    assert_refused(alice_api.get(next_link), "not valid")


@pytest.mark.parametrize("cursor", ["", "x", "abc:def:ghi", "%00", "é" * 5000])
def test_a_malformed_cursor_is_refused_or_means_the_first_page(alice_api, tied_folder, cursor):
    response = alice_api.get(f"/api/v1/files/?folder={tied_folder.public_id}", {"cursor": cursor})
    if cursor:
        assert_refused(response, "not valid")
    else:
        assert response.status_code == 200


def test_a_cursor_of_another_order_or_list_is_refused(alice_api, tied_folder, next_link):
    cursor = cursor_of(next_link)
    folder = tied_folder.public_id
    assert_refused(
        alice_api.get(f"/api/v1/files/?folder={folder}&ordering=-size&cursor={cursor}"),
        "another list or sort order",
    )
    assert_refused(alice_api.get(f"/api/v1/trash/?cursor={cursor}"), "another list")
    assert_refused(alice_api.get(f"/api/v1/shares/?cursor={cursor}"), "another list")


@pytest.mark.parametrize(
    "value", [["i", "not a number"], ["s", "nul\x00"], ["t", "yesterday"], ["x", 1], "s"]
)
def test_a_cursor_with_values_of_the_wrong_kind_is_refused(
    alice_api, tied_folder, next_link, value
):
    """Even sealed with the server's key (which no client has): the values are checked."""
    payload = keyset.unseal(cursor_of(next_link))
    payload["v"][0] = value
    cursor = keyset.seal(payload)
    response = alice_api.get(f"/api/v1/files/?folder={tied_folder.public_id}&cursor={cursor}")
    assert_refused(response, "not valid")


def test_a_cursor_used_with_another_search_or_filter_is_refused(alice, alice_api):
    """Finding L3: a cursor of `?search=a` sought with `?search=b` gave a page of b's list
    that started at a row of a's."""
    root = folder_get_root(alice)
    bulk_files(alice, root, 5, prefix="alpha")
    bulk_files(alice, root, 5, prefix="beta")
    other = Folder.objects.create(owner=alice, parent=root, name="other", name_key="other")
    first = alice_api.get("/api/v1/files/?search=alpha&page_size=2").json()
    cursor = cursor_of(first["next"])
    for query in (
        "search=beta",
        "",
        "search=alpha&search=beta",
        f"search=alpha&folder={other.public_id}",
    ):
        response = alice_api.get(f"/api/v1/files/?{query}&cursor={cursor}")
        assert_refused(response, "another search or other filters")
    # The same query (the page size may change) follows on.
    followed = alice_api.get(f"/api/v1/files/?page_size=3&search=alpha&cursor={cursor}")
    assert followed.status_code == 200
    assert [item["name"][:5] for item in followed.json()["results"]] == ["alpha"] * 3


# --- Page size and numbered pages --------------------------------------------------------------


def test_page_size_is_capped_at_500(alice, alice_api):
    root = folder_get_root(alice)
    bulk_files(alice, root, 501, prefix="many")
    body = alice_api.get("/api/v1/files/?page_size=10000").json()
    assert len(body["results"]) == 500 and body["next"]
    assert "page_size=10000" in body["next"]
    rest = alice_api.get(body["next"]).json()
    assert len(rest["results"]) == 1 and rest["next"] is None
    assert len(alice_api.get("/api/v1/files/?page_size=").json()["results"]) == 50


@pytest.mark.parametrize("size", ["nonsense", "0", "-1", "1.5", "٣", "1e3", " 5"])
def test_a_page_size_that_is_not_a_whole_number_from_1_is_refused_with_a_sentence(
    alice_api, tied_folder, size
):
    """Finding L2: it was quietly replaced by the default."""
    for extra in ({}, {"page": "1"}):
        response = alice_api.get("/api/v1/files/", {"page_size": size, **extra})
        assert_refused(response, "page_size must be a whole number")


def test_page_and_cursor_together_are_refused_with_a_sentence(alice_api, tied_folder, next_link):
    """Finding L4: `page` won and the cursor was quietly ignored."""
    response = alice_api.get(f"{next_link}&page=2")
    assert_refused(response, "Use either `page` or `cursor`")


def test_page_answers_numbered_pages_with_a_count(alice, alice_api, tied_folder):
    url = f"/api/v1/files/?folder={tied_folder.public_id}&page_size=6"
    body = alice_api.get(url + "&page=2").json()
    assert body["count"] == 20
    assert len(body["results"]) == 6
    assert "page=3" in body["next"] and "page=1" not in body["previous"]
    assert alice_api.get(url + "&page=9").status_code == 404
    first_cursor_page = alice_api.get(url).json()
    assert "count" not in first_cursor_page
    assert first_cursor_page["previous"] is None and "cursor=" in first_cursor_page["next"]


def test_an_empty_list_has_neither_next_nor_previous(alice_api):
    assert alice_api.get("/api/v1/trash/").json() == {"next": None, "previous": None, "results": []}


def test_the_schema_documents_cursor_and_page(tmp_path):
    import yaml
    from django.core.management import call_command

    path = tmp_path / "schema.yaml"
    call_command("spectacular", "--file", str(path))
    schema = yaml.safe_load(path.read_text())
    for route in ("/api/v1/files/", "/api/v1/trash/", "/api/v1/shares/", "/api/v1/audit/"):
        parameters = {p["name"]: p for p in schema["paths"][route]["get"]["parameters"]}
        assert {"cursor", "page", "page_size"} <= set(parameters), (route, parameters)
        assert (
            "At most 500: a larger number gives pages of 500"
            in (parameters["page_size"]["description"])
        )
    page = schema["components"]["schemas"]["PaginatedFileList"]
    assert page["required"] == ["next", "previous", "results"]
    assert "count" in page["properties"]
