"""The attack pass on share links, as the attacker sent it: HEAD on folder ZIPs that decrypted
the whole archive, a folder page of thousands of files in one answer, a resume cookie that was a
reusable 24-hour pass, parallel password guesses slipping past the throttle, an e-mail per
download, and selection ZIPs costing two queries per item."""

import html
import http.client
import io
import os
import re
import threading
import urllib.error
import urllib.request
import zipfile

import pytest
from django.conf import settings as django_settings
from django.core import mail
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from sharing.models import ShareAccess, ShareLink
from sharing.selectors import share_opaque_id
from sharing.services import share_create
from tests.security.conftest import make_folder, store_file

# --- L4: parallel wrong passwords ----------------------------------------------------------------


def _fetch(url: str, *, method: str = "GET", headers: dict | None = None) -> int:
    request = urllib.request.Request(url, method=method, headers=headers or {})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310 - our server
            response.read()
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.mark.django_db(transaction=True)
def test_forty_parallel_wrong_passwords_get_no_more_checks_than_the_limit(
    live_server, alice, settings
):
    """`throttle_v6.py`: 40 simultaneous wrong passwords, 21 checked (401) against a limit of
    10: the count was read, then the password checked, then the failure counted."""
    # The production hasher: a check takes as long as it does in production, and so does the
    # window between reading the count and counting the failure.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
    file = store_file(alice, "contract.pdf", b"%PDF-1.4 signed\n")
    _share, token = share_create(owner=alice, file=file, password="correct horse battery")
    url = f"{live_server.url}/s/{token}/download"
    racers = 40
    barrier = threading.Barrier(racers)
    statuses: list[int] = []
    lock = threading.Lock()

    def guess(number: int) -> None:
        barrier.wait()
        status = _fetch(url, headers={"X-Share-Password": f"guess {number}"})
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    limit = django_settings.LOCKER_SHARE_PASSWORD_ATTEMPTS
    assert len(statuses) == racers
    assert set(statuses) <= {401, 429}
    assert statuses.count(401) <= limit  # checked and wrong
    assert statuses.count(429) >= racers - limit  # refused without a check
    # The right password is refused too while the limit holds (it is an attempt like any).
    right = _fetch(url, headers={"X-Share-Password": "correct horse battery"})
    assert right == 429
    assert ShareLink.objects.get(token_hash=_share.token_hash).download_count == 0


@pytest.mark.django_db
def test_a_right_password_sent_with_every_download_uses_up_no_attempt(client, alice, settings):
    """The count is taken before the check; a right password gives its attempt back, so a
    program sending `X-Share-Password` with each download is never throttled."""
    file = store_file(alice, "contract.pdf", b"%PDF-1.4 signed\n")
    _share, token = share_create(owner=alice, file=file, password="correct horse battery")
    for _ in range(settings.LOCKER_SHARE_PASSWORD_ATTEMPTS * 2):
        response = client.get(f"/s/{token}/download", HTTP_X_SHARE_PASSWORD="correct horse battery")
        assert response.status_code == 200
        b"".join(response.streaming_content)


# --- L8: selection ZIPs ------------------------------------------------------------------------


def _selection_url(token: str, share, items) -> str:
    return f"/s/{token}/download?" + "&".join(
        f"item={share_opaque_id(share, item)}" for item in items
    )


def _queries_of(url: str) -> tuple[int, bytes]:
    with CaptureQueriesContext(connection) as captured:
        response = Client().get(url)
        assert response.status_code == 200, response.content[:300]
        body = b"".join(response.streaming_content)
    return len(captured.captured_queries), body


@pytest.mark.django_db
def test_a_selection_zip_of_100_items_costs_the_queries_of_one(alice, share_of):
    """`selection_zip.py`: each `?item=` cost two queries (1 item 4, 10 items 22, 130 items
    262), anonymously, and HEAD was free: the request line was the only limit."""
    top = make_folder(alice, "photos")
    folders = [make_folder(alice, f"album {n:03}", parent=top) for n in range(50)]
    for n, album in enumerate(folders):
        store_file(alice, f"inside {n:03}.jpg", b"album photo %d" % n, folder=album)
    files = [
        store_file(alice, f"photo {n:03}.jpg", b"photo %d" % n, folder=top) for n in range(100)
    ]
    share, token = share_of(top)

    one_file, body = _queries_of(_selection_url(token, share, files[:1]))
    assert zipfile.ZipFile(io.BytesIO(body)).namelist() == ["photo 000.jpg"]
    hundred_files, body = _queries_of(_selection_url(token, share, files))
    assert len(zipfile.ZipFile(io.BytesIO(body)).namelist()) == 100
    assert hundred_files == one_file

    pair, body = _queries_of(_selection_url(token, share, [files[0], folders[0]]))
    assert sorted(zipfile.ZipFile(io.BytesIO(body)).namelist()) == [
        "album 000/inside 000.jpg",
        "photo 000.jpg",
    ]
    hundred_mixed, body = _queries_of(_selection_url(token, share, files[:50] + folders))
    archive = zipfile.ZipFile(io.BytesIO(body))
    assert len(archive.namelist()) == 100
    assert archive.read("album 049/inside 049.jpg") == b"album photo 49"
    assert hundred_mixed == pair


@pytest.mark.django_db
def test_a_selection_of_more_than_1000_items_is_a_400_with_a_sentence(client, alice, share_of):
    top = make_folder(alice, "photos")
    file = store_file(alice, "photo.jpg", b"photo", folder=top)
    share, token = share_of(top)
    opaque = share_opaque_id(share, file)
    response = client.get(f"/s/{token}/download?" + "&".join([f"item={opaque}"] * 1001))
    assert response.status_code == 400
    assert "at most 1,000 files and folders" in response.content.decode()
    assert ShareLink.objects.get(pk=share.pk).download_count == 0
    # 1,000 (here the same one, which counts once in the archive) are served.
    response = client.get(f"/s/{token}/download?" + "&".join([f"item={opaque}"] * 1000))
    assert response.status_code == 200
    assert zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))).namelist() == [
        "photo.jpg"
    ]


# --- M1: HEAD on folder ZIPs -------------------------------------------------------------------


def _head(url: str, headers: dict | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url, method="HEAD", headers=headers or {})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - our server
            assert response.read() == b""
            return response.status, dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers)


def _get_length(url: str, headers: dict | None = None) -> int:
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310
    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - our server
        return len(response.read())


@pytest.mark.django_db(transaction=True)
def test_head_on_a_folder_zip_reads_no_stored_object_and_is_not_a_download(
    live_server, alice, local_storage_settings
):
    """`zip_head.py`: HEAD on a 200 MB folder's ZIP (a max_downloads=1 link) decrypted the
    whole folder each time and was never counted; gunicorn logged "WSGI app sent body bytes on
    a no-body response". Here the stored objects are gone before the HEADs: any read of one
    would fail the answer."""
    from accounts.services import api_token_create

    top = make_folder(alice, "scans")
    inner = make_folder(alice, "2024", parent=top)
    first = store_file(alice, "a.pdf", b"%PDF-1.4 a\n" * 3000, folder=top)
    store_file(alice, "b.pdf", b"%PDF-1.4 b\n" * 5000, folder=inner)
    _token, secret = api_token_create(user=alice, name="head")
    bearer = {"Authorization": f"Bearer {secret}"}
    unlimited, unlimited_token = share_create(owner=alice, folder=top)
    limited, limited_token = share_create(owner=alice, folder=top, max_downloads=1)
    base = f"{live_server.url}/s/{unlimited_token}"
    urls = {
        "share": (f"{base}/download", {}),
        "subfolder": (f"{base}/folders/{share_opaque_id(unlimited, inner)}/download", {}),
        "selection": (
            f"{base}/download?item={share_opaque_id(unlimited, first)}"
            f"&item={share_opaque_id(unlimited, inner)}",
            {},
        ),
        "owner": (f"{live_server.url}/api/v1/folders/{top.public_id}/download", bearer),
    }
    lengths = {name: _get_length(url, headers) for name, (url, headers) in urls.items()}
    assert ShareLink.objects.get(pk=unlimited.pk).download_count == 3

    for path in list(local_storage_settings.rglob("*")):
        if path.is_file():
            path.unlink()
    for name, (url, headers) in urls.items():
        for _ in range(3):
            status, answer = _head(url, headers)
            assert status == 200, name
            assert answer["Content-Type"] == "application/zip"
            assert int(answer["Content-Length"]) == lengths[name], name
            assert "attachment" in answer["Content-Disposition"]
    status, answer = _head(f"{live_server.url}/s/{limited_token}/download")
    assert status == 200
    assert int(answer["Content-Length"]) == lengths["share"]
    # A HEAD is not a download: nothing counted, nothing logged.
    assert ShareLink.objects.get(pk=unlimited.pk).download_count == 3
    assert ShareLink.objects.get(pk=limited.pk).download_count == 0
    assert ShareAccess.objects.filter(share=unlimited).count() == 3
    assert not ShareAccess.objects.filter(share=limited).exists()


# --- M2: the page of a big folder share --------------------------------------------------------


_ROW = re.compile(r'<tr class="share-(?:entry|subfolder)">(.*?)</tr>', re.S)


def _page_names(response) -> list[str]:
    """The names a share page lists, in order (subfolders end with "/")."""
    names = []
    for row in _ROW.findall(response.content.decode()):
        name_cell = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)[1]
        names.append(html.unescape(re.sub(r"<[^>]+>", "", name_cell)).strip())
    return names


def _link(response, rel: str) -> str | None:
    match = re.search(rf'rel="{rel}" href="([^"]+)"', response.content.decode())
    return html.unescape(match.group(1)) if match else None


@pytest.mark.django_db
def test_a_folder_share_of_500_files_is_served_100_at_a_time_in_constant_queries(
    client, alice, share_of
):
    """`bigfolder.py 5000`: 5,000 files made one 1.72 MB page, 0.6–0.9 s per anonymous GET,
    linear in the number of files (50,000: 6–9 s). Pages are now keyset pages of 100."""
    small = make_folder(alice, "small")
    for n in range(5):
        store_file(alice, f"scan {n:03}.pdf", b"%PDF small", folder=small)
    big = make_folder(alice, "big")
    for n in range(500):
        store_file(alice, f"scan {n:03}.pdf", b"%PDF big", folder=big)
    _small_share, small_token = share_of(small)
    _big_share, big_token = share_of(big)

    def page(url):
        with CaptureQueriesContext(connection) as captured:
            response = client.get(url)
        assert response.status_code == 200
        return response, len(captured.captured_queries)

    small_page, small_queries = page(f"/s/{small_token}")
    assert len(_page_names(small_page)) == 5
    assert _link(small_page, "next") is None and _link(small_page, "prev") is None

    first, first_queries = page(f"/s/{big_token}")
    assert first_queries == small_queries
    assert _page_names(first) == [f"scan {n:03}.pdf" for n in range(100)]
    assert len(first.content) < 100_000
    assert _link(first, "prev") is None
    seen, current, costs = _page_names(first), first, []
    while (after := _link(current, "next")) is not None:
        current, queries = page(f"/s/{big_token}{after}")
        costs.append(queries)
        seen += _page_names(current)
    assert seen == [f"scan {n:03}.pdf" for n in range(500)]
    assert costs == [first_queries] * 4  # page 5 costs what page 1 does
    # And back, from the last page to the first.
    seen_back = _page_names(current)
    while (before := _link(current, "prev")) is not None:
        current, queries = page(f"/s/{big_token}{before}")
        assert queries == first_queries
        seen_back = _page_names(current) + seen_back
    assert seen_back == seen
    # The whole folder is still one ZIP.
    archive = client.get(f"/s/{big_token}/download")
    assert len(zipfile.ZipFile(io.BytesIO(b"".join(archive.streaming_content))).namelist()) == 500


# --- L3: the resume cookie -------------------------------------------------------------------

MIB = 1024 * 1024
BIG = os.urandom(24 * MIB)
# What a counted download may deliver in all, resumes included (docs/sharing.md, "Resuming"):
# one copy and at most half another, so never the file twice.
AT_MOST = len(BIG) * 3 // 2


def _hang_up(response) -> None:
    """What the WSGI server does when the client goes away mid-stream: close the response (it
    fires request_finished, which closes the database connection: these tests are
    transactional, so nothing is lost)."""
    response.close()


def _first_chunk_then_hang_up(response) -> bytes:
    chunk = next(iter(response.streaming_content))
    _hang_up(response)
    return chunk


@pytest.mark.django_db(transaction=True)
def test_a_copied_resume_cookie_does_not_hand_out_the_file_again(alice, share_of):
    """`limits.py`: one counted 1-byte request on a `max_downloads=1` link gave a
    `locker_resume` cookie with which 5 of 5 fresh clients sending `Range: bytes=1-` rebuilt the
    whole file after the limit was used up: a reusable pass for 24 hours."""
    file = store_file(alice, "payroll.bin", BIG)
    share, token = share_of(file, max_downloads=1)
    attacker = Client()
    first = _first_chunk_then_hang_up(attacker.get(f"/s/{token}/download"))
    assert first == BIG[: len(first)]
    cookie = attacker.cookies["locker_resume"].value
    received, complete = [], 0
    for number in range(5):
        friend = Client(REMOTE_ADDR=f"198.51.100.{number + 1}")
        friend.cookies["locker_resume"] = cookie
        response = friend.get(f"/s/{token}/download", HTTP_RANGE="bytes=1-")
        if response.status_code == 206:
            body = b"".join(response.streaming_content)
            received.append(len(body))
            complete += body == BIG[1:]
        else:
            assert response.status_code == 410
    assert complete <= 1  # one copy, the one the counted download paid for
    assert len(first) + sum(received) <= AT_MOST
    assert ShareLink.objects.get(pk=share.pk).download_count == 1
    (access,) = ShareAccess.objects.filter(share=share)
    assert access.bytes_sent == len(first) + sum(received)


@pytest.mark.django_db(transaction=True)
def test_parallel_clients_with_a_copied_resume_cookie_share_one_budget(live_server, alice):
    """The same, five clients at once: each passes the check at the start, so the budget is
    taken as the bytes go out, and the streams stop where it ends."""
    file = store_file(alice, "payroll.bin", BIG)
    share, token = share_create(owner=alice, file=file, max_downloads=1)
    url = f"{live_server.url}/s/{token}/download"
    with urllib.request.urlopen(  # noqa: S310 - our server
        urllib.request.Request(url, headers={"Range": "bytes=0-0"}),
        timeout=60,  # noqa: S310
    ) as counted:
        assert counted.read() == BIG[:1]
        cookie = counted.headers["Set-Cookie"].split(";", 1)[0]
    barrier = threading.Barrier(5)
    received: list[bytes] = []
    lock = threading.Lock()

    def friend() -> None:
        request = urllib.request.Request(  # noqa: S310
            url, headers={"Range": "bytes=1-", "Cookie": cookie}
        )
        barrier.wait()
        body = b""
        try:
            with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310
                while chunk := response.read(256 * 1024):
                    body += chunk
        except (urllib.error.HTTPError, http.client.IncompleteRead) as exc:
            body += getattr(exc, "partial", b"")
        with lock:
            received.append(body)

    threads = [threading.Thread(target=friend) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert 1 + sum(len(body) for body in received) <= AT_MOST
    assert sum(body == BIG[1:] for body in received) <= 1
    assert ShareLink.objects.get(pk=share.pk).download_count == 1


@pytest.mark.django_db(transaction=True)
def test_an_interrupted_download_still_resumes_to_the_end(alice, share_of):
    """A browser loses its connection: the server had sent 4 MiB, the client kept 1 MiB (the
    rest was in socket buffers), and resumes from there on the used-up link."""
    file = store_file(alice, "payroll.bin", BIG)
    share, token = share_of(file, max_downloads=1)
    browser = Client()
    response = browser.get(f"/s/{token}/download")
    stream, kept = iter(response.streaming_content), b""
    while len(kept) < 4 * MIB:
        kept += next(stream)
    _hang_up(response)
    kept = kept[:MIB]
    etag = response["ETag"]
    rest = browser.get(f"/s/{token}/download", HTTP_RANGE=f"bytes={MIB}-", HTTP_IF_RANGE=etag)
    assert rest.status_code == 206
    assert kept + b"".join(rest.streaming_content) == BIG
    assert ShareLink.objects.get(pk=share.pk).download_count == 1
    (access,) = ShareAccess.objects.filter(share=share)
    assert (access.resumes, access.completed) == (1, True)
    assert access.bytes_sent == 4 * MIB + len(BIG) - MIB


@pytest.mark.django_db(transaction=True)
def test_a_download_manager_fetching_four_ranges_at_once_gets_the_whole_file(alice, share_of):
    """A multi-connection download manager: its first request is counted, then it fetches the
    other quarters in parallel with the cookie, and stops the first at its quarter's end."""
    file = store_file(alice, "payroll.bin", BIG)
    share, token = share_of(file, max_downloads=1)
    manager = Client()
    quarter = len(BIG) // 4
    responses = [manager.get(f"/s/{token}/download")]
    for part in range(1, 4):
        end = "" if part == 3 else str((part + 1) * quarter - 1)
        responses.append(
            manager.get(f"/s/{token}/download", HTTP_RANGE=f"bytes={part * quarter}-{end}")
        )
    assert [r.status_code for r in responses] == [200, 206, 206, 206]
    streams = [iter(r.streaming_content) for r in responses]
    parts = [b"", b"", b"", b""]
    active = {0, 1, 2, 3}
    while active:
        for number in sorted(active):  # round robin, as connections interleave
            chunk = next(streams[number], None)
            if chunk is None:
                active.discard(number)
                continue
            parts[number] += chunk
            if number == 0 and len(parts[0]) >= quarter:
                active.discard(0)  # the first connection stops at its quarter's end
    _hang_up(responses[0])
    assert b"".join([parts[0][:quarter], *parts[1:]]) == BIG
    assert ShareLink.objects.get(pk=share.pk).download_count == 1


# --- L5: download e-mails ----------------------------------------------------------------------


@pytest.mark.django_db
def test_fifty_downloads_send_the_owner_at_most_two_e_mails(
    alice, share_of, eager_celery, django_capture_on_commit_callbacks
):
    """`notify_flood.py`: a share with notify=True, 50 one-byte Range downloads, 50 e-mails to
    the owner (and each a log row and an audit row). Now the first download queues an e-mail
    due five minutes later, which reports every download until then."""
    file = store_file(alice, "brochure.pdf", b"%PDF-1.4 brochure\n" * 100)
    share, token = share_of(file, notify=True)
    for number in range(50):
        visitor = Client(REMOTE_ADDR=f"203.0.113.{number + 1}")
        with django_capture_on_commit_callbacks(execute=True):  # each request's commit
            response = visitor.get(f"/s/{token}/download", HTTP_RANGE="bytes=0-0")
        assert response.status_code == 206
        assert b"".join(response.streaming_content) == b"%"
    # (Eager tasks run when queued, not five minutes later: the first download's went out.)
    assert len(mail.outbox) == 1
    assert mail.outbox[0].subject == "Someone downloaded “brochure.pdf”"
    from sharing.tasks import notify_share_downloads

    notify_share_downloads.apply(args=(share.pk,))  # what the worker runs when it is due
    assert len(mail.outbox) == 2
    assert mail.outbox[1].subject == "49 downloads through your link to “brochure.pdf”"
    assert [message.to for message in mail.outbox] == [["alice@example.com"]] * len(mail.outbox)
    reported = sum(
        int(re.search(r"(\d+|One) downloads?", m.body).group(1).replace("One", "1"))
        for m in mail.outbox
    )
    assert reported == 50  # every download reported, once
    assert notify_share_downloads.apply(args=(share.pk,)).get() == 0
    # Each counted download stays in the access log (its owner's record of who downloaded).
    assert ShareAccess.objects.filter(share=share, counted=True).count() == 50
