"""`Idempotency-Key` on the API's create requests (locker/idempotency.py): a retry gets the
first answer and creates nothing; the key with another request is 422; while the first request
runs, 409; a crashed request's claim expires; answers are sealed, bounded and pruned."""

import base64
import threading
import time
from datetime import timedelta

import pytest
import requests
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import ApiToken
from accounts.services import api_token_create
from files.models import File, Folder, TusUpload
from files.selectors import folder_get_root
from locker import idempotency
from locker.models import IdempotentRequest
from sharing.models import ShareLink
from tests.fixtures.files import make_file, make_folder


def post_folder(client, name: str, key: str | None = "key-1", **body):
    extra = {} if key is None else {"HTTP_IDEMPOTENCY_KEY": key}
    return client.post("/api/v1/folders/", {"name": name, **body}, format="json", **extra)


def test_the_same_key_and_body_twice_creates_one_folder_and_answers_the_first_answer(
    alice, alice_api
):
    first = post_folder(alice_api, "Invoices")
    second = post_folder(alice_api, "Invoices")
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert Folder.objects.filter(owner=alice, name="Invoices").count() == 1


def test_the_same_json_with_other_spacing_and_key_order_is_the_same_request(alice, alice_api):
    parent = make_folder(alice, "parent").public_id
    bodies = [
        f'{{"name": "A", "parent": "{parent}"}}',
        f'{{"parent":"{parent}",   "name":"A"}}',
    ]
    answers = [
        alice_api.post(
            "/api/v1/folders/", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k"
        )
        for body in bodies
    ]
    assert [answer.status_code for answer in answers] == [201, 201]
    assert answers[1]["Idempotent-Replayed"] == "true"
    assert Folder.objects.filter(owner=alice, name="A").count() == 1


def test_the_same_key_with_another_body_answers_422_and_creates_nothing(alice, alice_api):
    assert post_folder(alice_api, "Invoices").status_code == 201
    response = post_folder(alice_api, "Receipts")
    assert response.status_code == 422
    assert "already used for a different request" in response.json()["detail"]
    assert not Folder.objects.filter(owner=alice, name="Receipts").exists()


def test_the_same_key_on_another_endpoint_answers_422(alice_api, report_file):
    assert post_folder(alice_api, "Invoices").status_code == 201
    response = alice_api.post(
        "/api/v1/shares/",
        {"file": str(report_file.public_id)},
        format="json",
        HTTP_IDEMPOTENCY_KEY="key-1",
    )
    assert response.status_code == 422
    assert not ShareLink.objects.exists()


def test_keys_are_per_user(alice, bob, alice_api, bob_api):
    assert post_folder(alice_api, "Invoices").status_code == 201
    response = post_folder(bob_api, "Invoices")
    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response
    assert Folder.objects.filter(owner=bob, name="Invoices").count() == 1


def test_another_token_of_the_same_user_gets_the_first_answer(alice, alice_api):
    from tests.fixtures.users import api_client_for

    first = post_folder(alice_api, "Invoices")
    second = post_folder(api_client_for(alice), "Invoices")
    assert second.status_code == 201 and second.json() == first.json()
    assert Folder.objects.filter(owner=alice, name="Invoices").count() == 1


def test_without_the_header_every_request_runs(alice, alice_api):
    assert post_folder(alice_api, "Invoices", key=None).status_code == 201
    assert post_folder(alice_api, "Invoices", key=None).status_code == 409
    assert not IdempotentRequest.objects.exists()


def test_a_refused_request_does_not_keep_its_key(alice, alice_api):
    refused = post_folder(alice_api, "a/b")
    assert refused.status_code == 400
    assert not IdempotentRequest.objects.exists()
    assert post_folder(alice_api, "fixed").status_code == 201
    assert Folder.objects.filter(owner=alice, name="fixed").count() == 1


@pytest.mark.parametrize(
    "key",
    ["x" * 256, "clé", "line\nbreak", "trailing-newline\n", "tab\there", " leading", ""],
    ids=["too-long", "not-ascii", "newline", "trailing-newline", "tab", "leading-space", "empty"],
)
def test_a_key_that_is_not_1_to_255_printable_ascii_characters_is_refused(alice, alice_api, key):
    response = alice_api.post(
        "/api/v1/folders/",
        {"name": "x"},
        format="json",
        HTTP_IDEMPOTENCY_KEY=key,
    )
    assert response.status_code == 400
    assert "1 to 255 printable ASCII characters" in response.json()["detail"]
    assert not Folder.objects.filter(owner=alice, name="x").exists()


def test_a_key_of_255_characters_is_taken(alice, alice_api):
    key = "~" * 255
    assert post_folder(alice_api, "x", key=key).status_code == 201
    assert post_folder(alice_api, "x", key=key)["Idempotent-Replayed"] == "true"


def _as_if_still_running(*, claimed_at=None) -> None:
    """Turn the kept answer back into a claim whose request has not finished (it runs on, or
    its process died), and remove what the request had created."""
    IdempotentRequest.objects.update(
        status=None, master_key_id="", sealed_answer=b"", claimed_at=claimed_at or timezone.now()
    )
    Folder.objects.filter(name="A").delete()


def test_a_request_whose_key_is_still_claimed_answers_409_and_does_not_run(alice, alice_api):
    assert post_folder(alice_api, "A").status_code == 201
    _as_if_still_running()
    response = post_folder(alice_api, "A")
    assert response.status_code == 409
    assert "still being handled" in response.json()["detail"]
    assert not Folder.objects.filter(owner=alice, name="A").exists()


def test_a_claim_left_by_a_crashed_request_is_taken_over_after_the_timeout(
    alice, alice_api, settings
):
    assert post_folder(alice_api, "A").status_code == 201
    _as_if_still_running()
    assert post_folder(alice_api, "A").status_code == 409  # the crash is not known yet
    crashed = IdempotentRequest.objects.get()
    stale = timezone.now() - timedelta(seconds=settings.LOCKER_IDEMPOTENCY_CLAIM_TIMEOUT)
    IdempotentRequest.objects.update(claimed_at=stale)
    taken_over = post_folder(alice_api, "A")
    assert taken_over.status_code == 201
    assert post_folder(alice_api, "A").json() == taken_over.json()
    # The crashed request, should it wake up, cannot overwrite the answer now kept.
    claim = idempotency.Claim(pk=crashed.pk, key_hash=crashed.key_hash, claimed_at=stale)
    assert not idempotency.idempotency_finish(claim=claim, status=500, headers={}, body=b"")
    assert Folder.objects.filter(owner=alice, name="A").count() == 1


def test_the_kept_answer_is_sealed_so_a_new_link_token_is_not_in_the_database(
    alice_api, report_file
):
    body = {"file": str(report_file.public_id)}
    first = alice_api.post("/api/v1/shares/", body, format="json", HTTP_IDEMPOTENCY_KEY="s")
    second = alice_api.post("/api/v1/shares/", body, format="json", HTTP_IDEMPOTENCY_KEY="s")
    assert first.status_code == second.status_code == 201
    assert second.json()["token"] == first.json()["token"]
    assert ShareLink.objects.count() == 1
    row = IdempotentRequest.objects.get()
    stored = bytes(row.sealed_answer)
    token = first.json()["token"].encode()
    assert token not in stored and base64.b64encode(token)[:40] not in stored
    assert row.key_hash == idempotency.key_hash(user_id=report_file.owner_id, key="s")


def test_a_token_created_twice_with_one_key_is_one_token(alice, alice_api):
    body = {"name": "backup"}
    first = alice_api.post("/api/v1/tokens/", body, format="json", HTTP_IDEMPOTENCY_KEY="t")
    second = alice_api.post("/api/v1/tokens/", body, format="json", HTTP_IDEMPOTENCY_KEY="t")
    assert first.status_code == second.status_code == 201
    assert second.json()["token"] == first.json()["token"]
    assert ApiToken.objects.filter(user=alice, name="backup").count() == 1


def upload_with(client, name: str, data: bytes, **headers):
    body = {"file": SimpleUploadedFile(name, data)}
    return client.post("/api/v1/files/", body, format="multipart", **headers)


def test_an_upload_retried_with_the_same_key_stores_one_file(alice, alice_api):
    first = upload_with(alice_api, "a.txt", b"abc", HTTP_IDEMPOTENCY_KEY="up")
    second = upload_with(alice_api, "a.txt", b"abc", HTTP_IDEMPOTENCY_KEY="up")
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert File.objects.filter(owner=alice).count() == 1


def test_an_upload_of_another_size_with_the_same_key_answers_422(alice, alice_api):
    assert upload_with(alice_api, "a.txt", b"abc", HTTP_IDEMPOTENCY_KEY="up").status_code == 201
    response = upload_with(alice_api, "a.txt", b"abcdef", HTTP_IDEMPOTENCY_KEY="up")
    assert response.status_code == 422
    assert File.objects.filter(owner=alice).count() == 1


def test_an_upload_with_another_checksum_header_and_the_same_key_answers_422(alice, alice_api):
    def digest(data: bytes) -> str:
        import hashlib

        return "sha-256=:" + base64.b64encode(hashlib.sha256(data).digest()).decode() + ":"

    first = upload_with(
        alice_api, "a.txt", b"abc", HTTP_IDEMPOTENCY_KEY="up", HTTP_CONTENT_DIGEST=digest(b"abc")
    )
    assert first.status_code == 201
    other = upload_with(
        alice_api, "a.txt", b"xyz", HTTP_IDEMPOTENCY_KEY="up", HTTP_CONTENT_DIGEST=digest(b"xyz")
    )
    assert other.status_code == 422
    assert File.objects.filter(owner=alice).count() == 1


def test_a_tus_creation_retried_with_the_same_key_makes_one_upload(alice, alice_api):
    headers = {
        "HTTP_TUS_RESUMABLE": "1.0.0",
        "HTTP_UPLOAD_LENGTH": "10",
        "HTTP_UPLOAD_METADATA": "filename " + base64.b64encode(b"a.bin").decode(),
        "HTTP_IDEMPOTENCY_KEY": "tus",
    }
    first = alice_api.generic("POST", "/api/v1/tus/", **headers)
    second = alice_api.generic("POST", "/api/v1/tus/", **headers)
    assert first.status_code == second.status_code == 201
    assert second["Location"] == first["Location"]
    assert second["Idempotent-Replayed"] == "true"
    assert TusUpload.objects.count() == 1


def test_an_answer_larger_than_the_limit_is_not_replayed_and_nothing_is_created_again(
    alice, alice_api, settings
):
    settings.LOCKER_IDEMPOTENCY_MAX_ANSWER = 16
    assert post_folder(alice_api, "Invoices").status_code == 201
    response = post_folder(alice_api, "Invoices")
    assert response.status_code == 409
    assert "too large to keep" in response.json()["detail"]
    assert Folder.objects.filter(owner=alice, name="Invoices").count() == 1


def test_keys_older_than_the_ttl_are_pruned_and_may_be_used_again(alice, alice_api, settings):
    assert post_folder(alice_api, "Invoices").status_code == 201
    assert post_folder(alice_api, "Receipts", key="key-2").status_code == 201
    IdempotentRequest.objects.filter(
        key_hash=idempotency.key_hash(user_id=alice.pk, key="key-1")
    ).update(created_at=timezone.now() - timedelta(seconds=settings.LOCKER_IDEMPOTENCY_TTL + 1))
    assert idempotency.idempotent_requests_prune() == 1
    assert IdempotentRequest.objects.count() == 1
    assert post_folder(alice_api, "Other").status_code == 201


def test_an_expired_key_not_yet_pruned_is_a_new_key(alice, alice_api, settings):
    assert post_folder(alice_api, "Invoices").status_code == 201
    IdempotentRequest.objects.update(
        created_at=timezone.now() - timedelta(seconds=settings.LOCKER_IDEMPOTENCY_TTL + 1)
    )
    response = post_folder(alice_api, "Receipts")
    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response


def test_the_prune_task_runs_the_prune(alice, settings):
    from locker.tasks import prune_idempotency_keys

    idempotency.idempotency_claim(user=alice, key="old", fingerprint="f" * 64)
    IdempotentRequest.objects.update(
        created_at=timezone.now() - timedelta(seconds=settings.LOCKER_IDEMPOTENCY_TTL + 1)
    )
    assert prune_idempotency_keys() == 1
    assert prune_idempotency_keys() == 0


# --- Through a live server: several clients, several server threads ---------------------------


def _wait_until_another_connection_waits_for_a_lock() -> None:
    """PostgreSQL shows a backend blocked on a lock (the statistics snapshot is cleared first:
    within a transaction it would stay as first read)."""
    for _attempt in range(600):
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                return
        time.sleep(0.05)
    raise AssertionError("the first request never waited for the lock")


@pytest.mark.django_db(transaction=True)
def test_two_requests_with_one_key_at_once_create_one_folder(live_server, alice):
    """The first request is held inside folder creation (the test holds the root folder's row
    lock that folder_create takes) after it claimed the key; the second, sent meanwhile from
    another client to another server thread, must not run: 409. Once the first is through, a
    retry gets its answer."""
    _token, secret = api_token_create(user=alice, name="one")
    _token, other_secret = api_token_create(user=alice, name="two")
    url = f"{live_server.url}/api/v1/folders/"

    def send(secret_: str) -> requests.Response:
        return requests.post(
            url,
            json={"name": "Invoices"},
            headers={"Authorization": f"Bearer {secret_}", "Idempotency-Key": "k"},
            timeout=60,
        )

    answers: dict[str, requests.Response] = {}
    root = folder_get_root(alice)
    with transaction.atomic():
        list(Folder.objects.select_for_update().filter(pk=root.pk).values_list("pk"))
        first = threading.Thread(target=lambda: answers.setdefault("first", send(secret)))
        first.start()
        _wait_until_another_connection_waits_for_a_lock()
        answers["second"] = send(other_secret)
    first.join(60)
    assert answers["second"].status_code == 409, answers["second"].text
    assert answers["first"].status_code == 201, answers["first"].text
    retry = send(other_secret)
    assert retry.status_code == 201
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.json() == answers["first"].json()
    assert Folder.objects.filter(owner=alice, name="Invoices").count() == 1


@pytest.mark.django_db(transaction=True)
def test_many_clients_racing_with_one_key_create_one_folder(live_server, alice):
    """Eight threads send the same request with the same key at once: one folder; every 201
    is the same answer, every other answer a 409."""
    _token, secret = api_token_create(user=alice, name="race")
    url = f"{live_server.url}/api/v1/folders/"
    start = threading.Barrier(8)
    answers: list[requests.Response] = []

    def send() -> None:
        start.wait(30)
        answers.append(
            requests.post(
                url,
                json={"name": "Invoices"},
                headers={"Authorization": f"Bearer {secret}", "Idempotency-Key": "race"},
                timeout=60,
            )
        )

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(answers) == 8
    created = [answer.json() for answer in answers if answer.status_code == 201]
    assert {answer.status_code for answer in answers} <= {201, 409}
    assert created and all(body == created[0] for body in created)
    assert Folder.objects.filter(owner=alice, name="Invoices").count() == 1


@pytest.fixture
def report_file(alice):
    return make_file(alice, "report.txt", b"numbers\n")


def test_kept_answers_are_resealed_by_a_master_key_rotation(alice, alice_api, settings):
    from storage.masterkeys import rotate_master_keys
    from tests.storage.test_rotatekeys import master_key_entry

    first = post_folder(alice_api, "Invoices")
    old_id = IdempotentRequest.objects.get().master_key_id
    old_keys = settings.LOCKER_MASTER_KEYS
    settings.LOCKER_MASTER_KEYS = master_key_entry("next") + "," + old_keys
    rotate_master_keys()
    assert IdempotentRequest.objects.get().master_key_id == "next"
    # The old key can go: the answer is still given again.
    settings.LOCKER_MASTER_KEYS = ",".join(
        entry for entry in settings.LOCKER_MASTER_KEYS.split(",") if not entry.startswith(old_id)
    )
    again = post_folder(alice_api, "Invoices")
    assert again.status_code == 201 and again.json() == first.json()
    assert Folder.objects.filter(owner=alice, name="Invoices").count() == 1


def test_a_quick_send_retried_with_the_same_key_makes_one_link(alice, alice_api):
    def send():
        return alice_api.post(
            "/api/v1/send/",
            {"file": SimpleUploadedFile("a.txt", b"abc"), "expires_in": "1d"},
            format="multipart",
            HTTP_IDEMPOTENCY_KEY="send",
        )

    first, second = send(), send()
    assert first.status_code == second.status_code == 201, first.content
    assert second.json()["url"] == first.json()["url"]
    assert ShareLink.objects.count() == 1
    assert File.objects.filter(owner=alice).count() == 1
