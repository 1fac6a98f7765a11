"""Numbers too large for the database, concurrency the schema generator could not take, and
errors that came back as Python reprs: each answered 500 or gibberish, and must answer a 4xx
with a sentence (or, for the schema, the same 200 to everyone)."""

import json
import threading
import urllib.request

import pytest

from accounts.models import User
from files.models import File, TusUpload, UploadReservation
from files.selectors import folder_get_root
from locker.env import MAX_BYTES
from sharing.upload_links import upload_link_create
from tests.sharing.conftest import make_folder, store_file
from tests.tus.helpers import create

pytestmark = pytest.mark.django_db

JUST_ABOVE_64_BITS = str(2**63)  # 9223372036854775808
BOUNDARY = "b0undary"


@pytest.fixture
def unlimited_alice(alice):
    """No quota: nothing but the size check itself stands between a length and the database."""
    alice.quota_bytes = 0
    alice.save()
    return alice


@pytest.fixture
def link_token(unlimited_alice):
    _link, token = upload_link_create(
        owner=unlimited_alice, folder=folder_get_root(unlimited_alice)
    )
    return token


@pytest.mark.parametrize("via", ["account", "upload link"])
@pytest.mark.parametrize("declared", [JUST_ABOVE_64_BITS, "0" * 5000 + JUST_ABOVE_64_BITS])
def test_tus_upload_length_beyond_64_bits_answers_413_not_500(
    via, declared, alice_api, client, link_token
):
    if via == "account":
        response = create(alice_api, declared)
    else:
        response = create(client, declared, base=f"/r/{link_token}/tus/")
    assert response.status_code == 413, response.content
    assert "Upload-Length" in response.json()["detail"]
    assert not TusUpload.objects.exists() and not UploadReservation.objects.exists()


@pytest.mark.parametrize("route", ["/api/v1/files/", "/api/v1/send/", "upload link"])
@pytest.mark.parametrize("declared", [JUST_ABOVE_64_BITS, "9" * 5000])
def test_multipart_content_length_beyond_64_bits_answers_413_not_500(
    route, declared, alice_api, client, link_token
):
    body = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\n'
        f"x\r\n--{BOUNDARY}--\r\n"
    ).encode()
    sender = client if route == "upload link" else alice_api
    url = f"/r/{link_token}/upload" if route == "upload link" else route
    response = sender.generic(
        "POST",
        url,
        data=body,
        content_type=f"multipart/form-data; boundary={BOUNDARY}",
        CONTENT_LENGTH=declared,
    )
    assert response.status_code == 413, response.content
    assert "larger than Locker can store" in response.json()["detail"]
    assert not File.objects.exists() and not UploadReservation.objects.exists()


@pytest.mark.parametrize("quota", ["99999999999999999999", 99999999999999999999, str(2**63)])
def test_staff_setting_a_quota_beyond_64_bits_gets_a_400_with_a_sentence(staff_api, bob, quota):
    before = bob.quota_bytes
    response = staff_api.patch(f"/api/v1/users/{bob.pk}/", {"quota": quota}, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["detail"] == (
        f"quota: A quota can be at most {MAX_BYTES} bytes (8 EiB); use 0 for unlimited."
    )
    assert User.objects.get(pk=bob.pk).quota_bytes == before


def test_the_largest_quota_is_stored_exactly(staff_api, bob):
    # Read through a float, "9223372036854775807" became 2**63 and overflowed the column.
    response = staff_api.patch(f"/api/v1/users/{bob.pk}/", {"quota": str(MAX_BYTES)}, format="json")
    assert response.status_code == 200, response.content
    assert User.objects.get(pk=bob.pk).quota_bytes == MAX_BYTES


@pytest.mark.parametrize(
    ("route", "payload", "words"),
    [
        ("/api/v1/upload-links/", {"max_file_size": "99999999999999999999"}, "at most"),
        ("/api/v1/upload-links/", {"max_file_size": 2**64}, "at most"),
        ("/api/v1/upload-links/", {"max_files": 2**31}, "less than or equal"),
        ("/api/v1/upload-links/", {"expires_in": "99999999999d"}, "too long"),
        ("/api/v1/shares/", {"max_downloads": 2**31}, "less than or equal"),
        ("/api/v1/shares/", {"expires_in": "99999999999d"}, "too long"),
    ],
)
def test_link_options_beyond_what_the_database_holds_get_a_400_with_a_sentence(
    alice_api, alice, route, payload, words
):
    target = (
        {"folder": str(make_folder(alice, "Inbox").public_id)}
        if "upload" in route
        else {"file": str(store_file(alice, "a.txt", b"a").public_id)}
    )
    response = alice_api.post(route, {**target, **payload}, format="json")
    assert response.status_code == 400, response.content
    assert words in response.json()["detail"]


def test_an_upload_link_name_error_is_a_sentence_not_a_python_repr(client, link_token):
    body = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="a/b.txt"\r\n\r\n'
        f"x\r\n--{BOUNDARY}--\r\n"
    ).encode()
    response = client.post(
        f"/r/{link_token}/upload",
        data=body,
        content_type=f"multipart/form-data; boundary={BOUNDARY}",
    )
    assert response.status_code == 400
    assert response.json() == {"code": "invalid", "detail": "A name cannot contain “/”."}


def test_the_schema_answers_the_same_200_to_eight_parallel_clients(live_server):
    """drf-spectacular's generator is not thread-safe: on the threaded server, concurrent
    generations failed with "Schema generation REQUIRES a view instance"."""
    url = f"{live_server.url}/api/v1/schema/?format=json"
    clients = 8
    barrier = threading.Barrier(clients)
    answers: list[tuple[int, bytes]] = []
    lock = threading.Lock()

    def fetch():
        barrier.wait()
        try:
            with urllib.request.urlopen(url, timeout=120) as response:  # noqa: S310 - our server
                answer = (response.status, response.read())
        except urllib.error.HTTPError as exc:
            answer = (exc.code, exc.read())
        with lock:
            answers.append(answer)

    threads = [threading.Thread(target=fetch) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [status for status, _body in answers] == [200] * clients, answers[0][1][:300]
    assert len({body for _status, body in answers}) == 1
    assert json.loads(answers[0][1])["paths"]


def test_the_upload_link_form_shows_a_size_beyond_64_bits_next_to_its_field(client, alice):
    from sharing.models import UploadLink

    client.force_login(alice)
    folder = make_folder(alice, "Inbox")
    response = client.post(
        f"/shares/uploads/new?folder={folder.public_id}",
        {"expires_in": "7d", "max_files": str(2**31), "max_file_size": "99999999999999999999"},
    )
    assert response.status_code == 200
    form = response.context["form"]
    assert "at most" in form.errors["max_file_size"][0]
    assert "less than or equal" in form.errors["max_files"][0]
    assert not UploadLink.objects.exists()


@pytest.mark.parametrize(
    ("header", "status", "body"),
    [
        ("bytes=" + "9" * 5000 + "-", 416, b""),  # starts past any end
        ("bytes=1-" + "9" * 5000, 206, b"ello"),  # ends past the end: to the end
        ("bytes=-" + "9" * 5000, 206, b"hello"),  # a suffix longer than the file: all of it
        ("bytes=\xb2-", 200, b"hello"),  # "²" is a digit to str.isdigit, not to int()
    ],
)
def test_range_positions_of_thousands_of_digits_are_answered_not_a_500(
    alice_api, alice, header, status, body
):
    file = store_file(alice, "a.txt", b"hello")
    response = alice_api.get(f"/api/v1/files/{file.public_id}/content", HTTP_RANGE=header)
    assert response.status_code == status
    assert b"".join(response.streaming_content if response.streaming else [response.content]) == (
        body
    )


def test_the_schema_lang_parameter_cannot_grow_the_processs_translation_cache(anon_api):
    """drf-spectacular activated `?lang=` as given; Django keeps a translation object for every
    code ever activated, so random codes grew the process's memory without bound."""
    from django.utils.translation import trans_real

    assert anon_api.get("/api/v1/schema/?lang=fr").status_code == 200
    before = set(trans_real._translations)
    for attempt in range(3):
        response = anon_api.get(f"/api/v1/schema/?lang=zz-{attempt}x")
        assert response.status_code == 200
    assert set(trans_real._translations) == before


@pytest.mark.parametrize("header", ["bytes=\xb2-", "bytes=" + "9" * 5000 + "-"])
def test_a_range_on_a_used_up_share_link_is_refused_not_a_500(client, alice, share_of, header):
    """The resume check reads the Range start too: "²" or 5,000 digits must not crash it."""
    file = store_file(alice, "a.txt", b"hello")
    _share, token = share_of(file, max_downloads=1)
    assert client.get(f"/s/{token}/download").status_code == 200
    response = client.get(f"/s/{token}/download", HTTP_RANGE=header)
    assert response.status_code == 410
