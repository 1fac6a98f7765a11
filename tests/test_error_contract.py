"""The error contract (docs/api-errors.md): every error a program can meet answers
`{"code", "detail"}` (plus `errors` on validation errors), with a code from locker.errors; the
public link routes answer it to programs and keep their pages for browsers.

Every request goes through the real stack (URL routing, middleware, DRF, the services, the
database and the cache); the outage codes are proven against a real server whose PostgreSQL,
Redis or S3 is cut (tests/test_outages.py, tests/files/test_disk_full.py,
tests/files/test_download_api.py).
"""

import uuid
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from files.models import File
from locker.errors import ErrorCode
from sharing.models import ShareLink, UploadLink
from sharing.services import share_create, share_revoke
from sharing.upload_links import upload_link_create, upload_link_revoke
from tests.fixtures.files import make_file, make_folder, upload
from tests.tus.helpers import TUS, create

pytestmark = pytest.mark.django_db

JSON = {"HTTP_ACCEPT": "application/json"}
# What Firefox and Chrome send when they load a page (a link followed, an address typed).
BROWSER = {"HTTP_ACCEPT": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


def error(response, status: int, code: str) -> dict:
    """The response is the JSON error `code` with `status`, a sentence in `detail`."""
    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"] == "application/json", response.content[:500]
    body = response.json()
    assert body["code"] == code, body
    assert code in ErrorCode.values
    assert isinstance(body["detail"], str) and len(body["detail"]) > 5
    return body


def page(response, status: int, words: str) -> None:
    """The response is the HTML page a browser gets, as before the JSON answers existed."""
    assert response.status_code == status
    assert response["Content-Type"].startswith("text/html")
    assert words in response.content.decode()


@pytest.fixture
def report(alice):
    return make_file(alice, "report.txt", b"quarterly numbers\n" * 10)


@pytest.fixture
def inbox(alice):
    return make_folder(alice, "Inbox")


def dead(link, **changes):
    """Make the link expired (or whatever `changes` say) as time would, bypassing the rules
    that refuse a past expiry at creation."""
    type(link).objects.filter(pk=link.pk).update(**changes)
    link.refresh_from_db()


YESTERDAY = {"expires_at": timezone.now() - timedelta(days=1)}


# --- The API ---------------------------------------------------------------------------------


def test_validation_error_says_invalid_and_names_the_field(alice_api):
    body = error(alice_api.post("/api/v1/folders/", {}, format="json"), 400, "invalid")
    assert list(body["errors"]) == ["name"]
    assert body["errors"]["name"]


def test_errors_that_are_not_validation_errors_have_no_errors_member(anon_api):
    body = error(anon_api.get("/api/v1/files/"), 401, "not_authenticated")
    assert set(body) == {"code", "detail"}


def test_a_guessed_token_says_not_authenticated(anon_api):
    anon_api.credentials(HTTP_AUTHORIZATION="Bearer " + "x" * 40)
    error(anon_api.get("/api/v1/files/"), 401, "not_authenticated")


def test_a_user_on_an_administrator_endpoint_gets_permission_denied(bob_api):
    error(bob_api.get("/api/v1/users/"), 403, "permission_denied")


def test_unknown_item_and_unknown_route_say_not_found(alice_api, bob, client):
    foreign = make_file(bob, "bobs.txt")
    error(alice_api.get(f"/api/v1/files/{foreign.public_id}/"), 404, "not_found")
    error(alice_api.get(f"/api/v1/files/{uuid.uuid4()}/"), 404, "not_found")
    error(client.get("/api/v1/no-such-thing/"), 404, "not_found")


def test_wrong_method_says_method_not_allowed(alice_api):
    error(alice_api.put("/api/v1/tus/", {}, format="json"), 405, "method_not_allowed")


def test_a_body_of_another_type_says_unsupported_media_type(alice_api):
    response = alice_api.post("/api/v1/folders/", "name=x", content_type="text/plain")
    error(response, 415, "unsupported_media_type")


def test_a_file_past_the_upload_limit_says_too_large(alice_api, settings):
    settings.LOCKER_MAX_UPLOAD_SIZE = 100
    error(upload(alice_api, "big.bin", b"x" * 101), 413, "too_large")
    error(create(alice_api, 101), 413, "too_large")


def test_an_upload_past_the_quota_says_quota_exceeded(alice, alice_api):
    alice.quota_bytes = 50
    alice.save()
    error(upload(alice_api, "big.bin", b"x" * 100), 507, "quota_exceeded")
    error(create(alice_api, 100), 507, "quota_exceeded")


def test_api_throttle_says_throttled_with_retry_after(anon_api, monkeypatch):
    from locker.throttle import AnonRateThrottle

    monkeypatch.setitem(AnonRateThrottle.THROTTLE_RATES, "anon", "2/min")
    answers = [anon_api.get("/api/v1/files/") for _ in range(4)]
    body = error(answers[-1], 429, "throttled")
    assert int(answers[-1]["Retry-After"]) > 0
    assert body["detail"]


# --- A retried upload meets its own file --------------------------------------------------------


def test_retried_upload_gets_the_existing_file_in_its_409(alice_api):
    first = upload(alice_api, "photo.jpg", b"the same bytes")
    assert first.status_code == 201
    again = upload(alice_api, "PHOTO.jpg", b"the same bytes")
    body = error(again, 409, "name_conflict")
    assert body["existing"] == {"id": first.json()["id"], "name": "photo.jpg", "type": "file"}
    assert File.objects.count() == 1


def test_retried_upload_into_a_folder_by_path_gets_the_existing_file(alice, alice_api):
    first = upload(alice_api, "day1.txt", b"notes", path="Trip/Day 1")
    assert first.status_code == 201, first.content
    body = error(upload(alice_api, "day1.txt", b"notes", path="Trip/Day 1"), 409, "name_conflict")
    assert body["existing"]["id"] == first.json()["id"]
    assert body["existing"]["type"] == "file"


def test_a_file_in_the_way_of_a_path_is_named_in_the_409(alice, alice_api):
    trip = make_file(alice, "Trip", b"not a folder")
    body = error(upload(alice_api, "day1.txt", b"notes", path="Trip/Day 1"), 409, "name_conflict")
    assert body["existing"] == {"id": str(trip.public_id), "name": "Trip", "type": "file"}


def test_a_folder_name_conflict_names_the_existing_folder(alice, alice_api):
    folder = make_folder(alice, "Taxes")
    response = alice_api.post("/api/v1/folders/", {"name": "taxes"}, format="json")
    body = error(response, 409, "name_conflict")
    assert body["existing"] == {"id": str(folder.public_id), "name": "Taxes", "type": "folder"}


def test_the_existing_item_is_never_someone_elses(alice, bob, bob_api):
    make_file(alice, "same.txt")
    first = upload(bob_api, "same.txt", b"bob's")
    body = error(upload(bob_api, "same.txt", b"bob's"), 409, "name_conflict")
    assert body["existing"]["id"] == first.json()["id"]


# --- Creating a share: what is missing, what is too much ---------------------------------------


def test_a_share_of_nothing_says_what_to_give(alice_api):
    body = error(alice_api.post("/api/v1/shares/", {}, format="json"), 400, "invalid")
    assert "not several" not in body["detail"]
    assert "Say what to share" in body["detail"]
    assert list(body["errors"]) == ["non_field_errors"]


def test_a_share_of_two_things_says_one_at_a_time(alice, alice_api, report):
    folder = make_folder(alice, "Docs")
    response = alice_api.post(
        "/api/v1/shares/",
        {"file": str(report.public_id), "folder": str(folder.public_id)},
        format="json",
    )
    body = error(response, 400, "invalid")
    assert "one thing at a time" in body["detail"]


# --- tus capabilities without credentials -------------------------------------------------------


def test_tus_options_answers_the_capabilities_without_authentication(anon_api, settings):
    settings.LOCKER_MAX_UPLOAD_SIZE = 5 * 1024**3
    response = anon_api.options("/api/v1/tus/")
    assert response.status_code == 204
    assert response["Tus-Resumable"] == "1.0.0"
    assert response["Tus-Version"] == "1.0.0"
    assert response["Tus-Extension"] == (
        "creation,creation-with-upload,termination,checksum,expiration"
    )
    assert set(response["Tus-Checksum-Algorithm"].split(",")) == {"sha1", "sha256", "md5"}
    assert response["Tus-Max-Size"] == str(5 * 1024**3)


def test_nothing_else_of_tus_or_the_api_opens_without_authentication(anon_api):
    error(create(anon_api, 10), 401, "not_authenticated")
    error(anon_api.options("/api/v1/tus/" + "a" * 43), 401, "not_authenticated")
    error(anon_api.get("/api/v1/tus/" + "a" * 43, **TUS), 401, "not_authenticated")
    error(anon_api.options("/api/v1/files/"), 401, "not_authenticated")


# --- Share links (/s/…) -------------------------------------------------------------------------


def test_expired_revoked_and_used_up_share_links_are_told_apart(alice, client, report):
    expired, expired_token = share_create(owner=alice, file=report)
    dead(expired, **YESTERDAY)
    revoked, revoked_token = share_create(owner=alice, file=report)
    share_revoke(share=revoked)
    used, used_token = share_create(owner=alice, file=report, max_downloads=1)
    dead(used, download_count=1)
    for token, code in (
        (expired_token, "expired"),
        (revoked_token, "revoked"),
        (used_token, "download_limit_reached"),
    ):
        error(client.get(f"/s/{token}", **JSON), 410, code)
        error(client.get(f"/s/{token}/download", **JSON), 410, code)
        # curl and scripts send `*/*` or no Accept at all: a download route answers them JSON.
        error(client.get(f"/s/{token}/download", HTTP_ACCEPT="*/*"), 410, code)
        error(client.get(f"/s/{token}/download"), 410, code)


def test_a_browser_still_gets_the_pages_of_dead_share_links(alice, client, report):
    share, token = share_create(owner=alice, file=report)
    dead(share, **YESTERDAY)
    page(client.get(f"/s/{token}", **BROWSER), 410, "This link has expired.")
    page(client.get(f"/s/{token}/download", **BROWSER), 410, "This link has expired.")
    # Without Accept, the page route stays a page: only programs that ask get JSON there.
    page(client.get(f"/s/{token}"), 410, "This link has expired.")


def test_a_deleted_target_says_link_unavailable(alice, alice_api, client, report):
    _share, token = share_create(owner=alice, file=report)
    assert alice_api.delete(f"/api/v1/files/{report.public_id}/").status_code == 204
    error(client.get(f"/s/{token}", **JSON), 410, "link_unavailable")


def test_an_unknown_share_token_says_not_found(client):
    error(client.get("/s/" + "a" * 43, **JSON), 404, "not_found")
    page(client.get("/s/" + "a" * 43, **BROWSER), 404, "There is no such link.")


def test_share_password_codes(alice, client, report, settings):
    share, token = share_create(owner=alice, file=report, password="right horse")
    assert ShareLink.objects.get(pk=share.pk).password_hash
    body = error(client.get(f"/s/{token}", **JSON), 401, "password_required")
    assert body["detail"] == "This link is protected by a password."
    error(client.get(f"/s/{token}/download"), 401, "password_required")
    wrong = {"HTTP_X_SHARE_PASSWORD": "wrong", **JSON}
    error(client.get(f"/s/{token}", **wrong), 401, "wrong_password")
    error(client.get(f"/s/{token}/download", **wrong), 401, "wrong_password")
    error(client.post(f"/s/{token}", {"password": "wrong"}, **JSON), 401, "wrong_password")
    right = client.get(f"/s/{token}/download", HTTP_X_SHARE_PASSWORD="right horse")
    assert right.status_code == 200
    # A browser: the password form, and its wrong-password answer, as before.
    form = client.get(f"/s/{token}", **BROWSER)
    assert form.status_code == 200 and b'name="password"' in form.content
    posted = client.post(f"/s/{token}", {"password": "wrong"}, **BROWSER)
    page(posted, 403, "The password is not correct.")


def test_too_many_wrong_passwords_say_throttled(alice, client, report, settings):
    settings.LOCKER_SHARE_PASSWORD_ATTEMPTS = 2
    _share, token = share_create(owner=alice, file=report, password="right horse")
    wrong = {"HTTP_X_SHARE_PASSWORD": "wrong", **JSON}
    for _ in range(2):
        error(client.get(f"/s/{token}/download", **wrong), 401, "wrong_password")
    response = client.get(f"/s/{token}/download", **wrong)
    error(response, 429, "throttled")
    assert int(response["Retry-After"]) > 0


def test_a_file_still_being_scanned_says_not_ready(alice, client, report, settings):
    settings.LOCKER_SHARE_REQUIRES_SCAN = True
    File.objects.filter(pk=report.pk).update(state=File.State.PENDING)
    _share, token = share_create(owner=alice, file=report)
    error(client.get(f"/s/{token}/download"), 409, "not_ready")


def test_a_view_only_link_says_download_not_allowed(alice, client, report):
    _share, token = share_create(owner=alice, file=report, allow_download=False)
    error(client.get(f"/s/{token}/download"), 403, "download_not_allowed")


def test_json_refusals_keep_the_public_headers(alice, client, report):
    share, token = share_create(owner=alice, file=report)
    dead(share, **YESTERDAY)
    response = client.get(f"/s/{token}/download")
    assert response["Referrer-Policy"] == "no-referrer"
    assert response["Cache-Control"] == "private, no-store"
    assert response["X-Robots-Tag"] == "noindex, nofollow"


# --- Upload links (/r/…) ------------------------------------------------------------------------


def send(client, token: str, name: str = "a.txt", **extra):
    return client.post(f"/r/{token}/upload", {"file": [SimpleUploadedFile(name, b"data")]}, **extra)


def test_expired_revoked_and_full_upload_links_are_told_apart(alice, client, inbox):
    expired, expired_token = upload_link_create(owner=alice, folder=inbox)
    dead(expired, **YESTERDAY)
    revoked, revoked_token = upload_link_create(owner=alice, folder=inbox)
    upload_link_revoke(link=revoked)
    full, full_token = upload_link_create(owner=alice, folder=inbox, max_files=1)
    dead(full, files_count=1)
    for token, code in (
        (expired_token, "expired"),
        (revoked_token, "revoked"),
        (full_token, "upload_limit_reached"),
    ):
        error(client.get(f"/r/{token}", **JSON), 410, code)
        error(send(client, token), 410, code)
        tus = client.post(f"/r/{token}/tus/", HTTP_UPLOAD_LENGTH="4", **TUS)
        error(tus, 410, code)
    page(client.get(f"/r/{expired_token}", **BROWSER), 410, "This upload link has expired.")


def test_upload_link_password_codes(alice, client, inbox):
    _link, token = upload_link_create(owner=alice, folder=inbox, password="right horse")
    assert UploadLink.objects.get(token_hash__isnull=False).password_hash
    error(client.get(f"/r/{token}", **JSON), 401, "password_required")
    error(send(client, token), 401, "password_required")
    wrong = {"HTTP_X_SHARE_PASSWORD": "wrong"}
    error(send(client, token, **wrong), 401, "wrong_password")
    error(client.post(f"/r/{token}", {"password": "wrong"}, **JSON), 401, "wrong_password")
    form = client.get(f"/r/{token}", **BROWSER)
    assert form.status_code == 200 and b'name="password"' in form.content


def test_a_method_a_link_route_does_not_answer_says_method_not_allowed(alice, client, inbox):
    _link, token = upload_link_create(owner=alice, folder=inbox)
    response = client.get(f"/r/{token}/upload")
    error(response, 405, "method_not_allowed")
    assert response["Allow"] == "POST"
    error(client.delete(f"/r/{token}", **JSON), 405, "method_not_allowed")
    error(client.put(f"/r/{token}/tus/"), 405, "method_not_allowed")
    browser = client.delete(f"/r/{token}", **BROWSER)
    assert browser.status_code == 405
    assert not browser["Content-Type"].startswith("application/json")


def test_an_upload_link_with_no_room_says_quota_exceeded(alice, client, inbox):
    alice.quota_bytes = 1
    alice.save()
    _link, token = upload_link_create(owner=alice, folder=inbox)
    body = error(send(client, token), 507, "quota_exceeded")
    assert body["detail"] == "There is no room left for uploads on this link."


def test_an_upload_link_conflict_never_names_the_owners_item(alice, client, inbox):
    link, token = upload_link_create(owner=alice, folder=inbox)
    from sharing.upload_links import upload_batch_token

    batch = upload_batch_token(link=link)
    first = client.post(
        f"/r/{token}/upload?batch={batch}&path=Trip", {"file": [SimpleUploadedFile("Day", b"a")]}
    )
    assert first.status_code == 201, first.content
    # "Trip/Day" needs a folder where the file "Day" stands.
    response = client.post(
        f"/r/{token}/upload?batch={batch}&path=Trip/Day",
        {"file": [SimpleUploadedFile("b.txt", b"b")]},
    )
    body = error(response, 409, "name_conflict")
    assert set(body) == {"code", "detail"}


# --- The component the OpenAPI schema refers to -------------------------------------------------


def test_the_schema_describes_the_error_body_with_every_code(tmp_path):
    import yaml
    from django.core.management import call_command

    path = tmp_path / "schema.yaml"
    call_command("spectacular", "--file", str(path))
    schema = yaml.safe_load(path.read_text())
    components = schema["components"]["schemas"]
    error_schema = components["Error"]
    assert set(error_schema["required"]) == {"code", "detail"}
    code = error_schema["properties"]["code"]
    enum = components[code["allOf"][0]["$ref"].rsplit("/", 1)[1]] if "allOf" in code else code
    if "$ref" in code:
        enum = components[code["$ref"].rsplit("/", 1)[1]]
    assert set(enum["enum"]) == set(ErrorCode.values)
    tus_401 = schema["paths"]["/api/v1/tus/"]["post"]["responses"]["401"]
    assert tus_401["content"]["application/json"]["schema"]["$ref"].endswith("/Error")


def test_the_codes_are_documented(settings):
    text = (settings.BASE_DIR / "docs" / "api-errors.md").read_text()
    for code in ErrorCode.values:
        assert f"`{code}`" in text, code
