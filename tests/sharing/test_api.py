from datetime import timedelta

import pytest
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from files.services import file_trash
from sharing.models import ShareLink
from sharing.tokens import hash_token
from tests.sharing.conftest import make_folder, store_file


def create(api, **body):
    return api.post("/api/v1/shares/", body, format="json")


def test_create_a_file_share_returns_token_and_url_and_later_the_url_only(
    alice_api, report, settings
):
    response = create(alice_api, file=str(report.public_id), label="for Bob")
    assert response.status_code == 201
    data = response.json()
    assert data["url"] == f"{settings.LOCKER_BASE_URL}/s/{data['token']}"
    assert len(data["token"]) >= 43  # 256 bits, URL-safe
    assert data["download_count"] == 0
    assert data["file"] == str(report.public_id)
    assert data["status"] == "active"
    share = ShareLink.objects.get(public_id=data["id"])
    assert share.token_hash == hash_token(data["token"])
    assert data["token"] not in str(ShareLink.objects.filter(pk=share.pk).values().first())
    shown = alice_api.get(f"/api/v1/shares/{data['id']}/").json()
    assert "token" not in shown and shown["url"] == data["url"]


def test_default_expiry_applies(alice_api, report, settings):
    settings.LOCKER_SHARE_DEFAULT_EXPIRY = 3600
    data = create(alice_api, file=str(report.public_id)).json()
    expires = parse_datetime(data["expires_at"])
    assert timedelta(minutes=59) < expires - timezone.now() <= timedelta(hours=1)


@pytest.mark.parametrize(("given", "seconds"), [("30m", 1800), ("12h", 43200), (86400, 86400)])
def test_expires_in_accepts_durations(alice_api, report, given, seconds):
    data = create(alice_api, file=str(report.public_id), expires_in=given).json()
    delta = parse_datetime(data["expires_at"]) - timezone.now()
    assert timedelta(seconds=seconds - 60) < delta <= timedelta(seconds=seconds)


def test_expires_at_with_a_time_zone(alice_api, report):
    when = (timezone.now() + timedelta(days=2)).replace(microsecond=0)
    data = create(alice_api, file=str(report.public_id), expires_at=when.isoformat()).json()
    assert parse_datetime(data["expires_at"]) == when


@pytest.mark.parametrize("bad", ["soon", "-5m", "0", "7x"])
def test_bad_durations_are_refused_with_a_sentence(alice_api, report, bad):
    response = create(alice_api, file=str(report.public_id), expires_in=bad)
    assert response.status_code == 400
    assert "expires_in" in response.json()["errors"]


def test_past_expiry_is_refused(alice_api, report):
    past = (timezone.now() - timedelta(hours=1)).isoformat()
    response = create(alice_api, file=str(report.public_id), expires_at=past)
    assert response.status_code == 400
    assert "future" in response.json()["detail"]


def test_never_is_allowed_only_when_the_admin_allows_it(alice_api, report, settings):
    assert (
        create(alice_api, file=str(report.public_id), expires_in="never").json()["expires_at"]
        is None
    )
    settings.LOCKER_SHARE_ALLOW_NEVER = False
    response = create(alice_api, file=str(report.public_id), expires_at=None)
    assert response.status_code == 400


def test_max_expiry_caps_links(alice_api, report, settings):
    settings.LOCKER_SHARE_MAX_EXPIRY = 86400
    assert create(alice_api, file=str(report.public_id), expires_in="2d").status_code == 400
    assert create(alice_api, file=str(report.public_id), expires_in="never").status_code == 400
    assert create(alice_api, file=str(report.public_id), expires_in="12h").status_code == 201


def test_both_file_and_folder_is_refused(alice_api, alice, report):
    folder = make_folder(alice, "Docs")
    response = create(alice_api, file=str(report.public_id), folder=str(folder.public_id))
    assert response.status_code == 400


def test_foreign_file_id_answers_404(bob_api, report):
    assert create(bob_api, file=str(report.public_id)).status_code == 404


def test_foreign_folder_id_answers_404(bob_api, alice):
    folder = make_folder(alice, "Private")
    assert create(bob_api, folder=str(folder.public_id)).status_code == 404


def test_trashed_file_cannot_be_shared(alice_api, report):
    file_trash(file=report)
    assert create(alice_api, file=str(report.public_id)).status_code == 404


def test_foreign_share_ids_answer_404_on_every_action(alice_api, bob_api, report):
    share_id = create(alice_api, file=str(report.public_id)).json()["id"]
    assert bob_api.get(f"/api/v1/shares/{share_id}/").status_code == 404
    assert bob_api.patch(f"/api/v1/shares/{share_id}/", {"label": "x"}).status_code == 404
    assert bob_api.delete(f"/api/v1/shares/{share_id}/").status_code == 404
    assert bob_api.get(f"/api/v1/shares/{share_id}/accesses/").status_code == 404
    assert bob_api.get("/api/v1/shares/").json()["results"] == []
    assert ShareLink.objects.get(public_id=share_id).revoked_at is None


def test_list_shows_only_my_links(alice_api, bob_api, bob, report):
    create(alice_api, file=str(report.public_id))
    create(bob_api, file=str(store_file(bob, "b.txt", b"b").public_id))
    listing = alice_api.get("/api/v1/shares/").json()
    assert len(listing["results"]) == 1
    assert listing["results"][0]["name"] == "report.txt"


def test_patch_changes_options(alice_api, report):
    share_id = create(alice_api, file=str(report.public_id)).json()["id"]
    response = alice_api.patch(
        f"/api/v1/shares/{share_id}/",
        {"max_downloads": 3, "label": "new", "allow_download": False, "expires_in": "1h"},
        format="json",
    )
    assert response.status_code == 200
    data = response.json()
    assert (data["max_downloads"], data["label"], data["allow_download"]) == (3, "new", False)
    delta = parse_datetime(data["expires_at"]) - timezone.now()
    assert timedelta(minutes=59) < delta <= timedelta(hours=1)


def test_patch_sets_and_removes_the_password(alice_api, report):
    share_id = create(alice_api, file=str(report.public_id)).json()["id"]
    url = f"/api/v1/shares/{share_id}/"
    assert alice_api.patch(url, {"password": "pw"}, format="json").json()["has_password"]
    assert not alice_api.patch(url, {"password": ""}, format="json").json()["has_password"]


def test_delete_revokes_and_the_link_answers_410(alice_api, client, report):
    data = create(alice_api, file=str(report.public_id)).json()
    assert alice_api.delete(f"/api/v1/shares/{data['id']}/").status_code == 204
    assert client.get(f"/s/{data['token']}").status_code == 410
    assert alice_api.get(f"/api/v1/shares/{data['id']}/").json()["status"] == "revoked"


def test_access_log_lists_downloads(alice_api, client, report):
    data = create(alice_api, file=str(report.public_id)).json()
    b"".join(client.get(f"/s/{data['token']}/download", HTTP_USER_AGENT="curl/8").streaming_content)
    log = alice_api.get(f"/api/v1/shares/{data['id']}/accesses/").json()
    assert len(log["results"]) == 1
    entry = log["results"][0]
    assert entry["completed"] is True
    assert entry["bytes_sent"] == report.size
    assert entry["ip"] == "127.0.0.1"
    assert entry["user_agent"] == "curl/8"


def test_access_log_truncates_ips_when_anonymising(alice_api, client, report, settings):
    settings.LOCKER_ANONYMISE_IPS = True
    data = create(alice_api, file=str(report.public_id)).json()
    b"".join(client.get(f"/s/{data['token']}/download").streaming_content)
    entry = alice_api.get(f"/api/v1/shares/{data['id']}/accesses/").json()["results"][0]
    assert entry["ip"] == "127.0.0.0"


def test_password_is_never_returned(alice_api, report):
    data = create(alice_api, file=str(report.public_id), password="hunter22").json()
    assert "password" not in data
    assert "hunter22" not in str(data)


def test_anonymous_callers_are_refused(anon_api):
    assert anon_api.get("/api/v1/shares/").status_code in (401, 403)


def test_openapi_schema_documents_the_share_endpoints(client, alice):
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    for path in ("/api/v1/shares/", "/api/v1/shares/{id}/", "/api/v1/shares/{id}/accesses/"):
        assert path in schema["paths"]
    create = schema["paths"]["/api/v1/shares/"]["post"]
    assert "201" in create["responses"]
    assert "expires_in" in schema["components"]["schemas"]["ShareCreateRequest"]["properties"]


def test_list_narrows_to_one_file(alice_api, alice, report):
    other = store_file(alice, "other.txt", b"o")
    create(alice_api, file=str(report.public_id))
    create(alice_api, file=str(other.public_id))
    listing = alice_api.get("/api/v1/shares/", {"file": str(report.public_id)}).json()
    assert [item["name"] for item in listing["results"]] == ["report.txt"]
    assert alice_api.get("/api/v1/shares/", {"file": "nope"}).status_code == 400
