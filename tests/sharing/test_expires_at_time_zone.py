"""`expires_at` must say its time zone (docs/sharing.md): without one it is refused with a
sentence, never read in the server's TIME_ZONE, which the client cannot know."""

import pytest

from sharing.models import ShareLink, UploadLink
from tests.fixtures.files import make_file, make_folder

pytestmark = pytest.mark.django_db

NAIVE = "2099-01-31T18:00:00"


def test_a_share_with_expires_at_without_a_time_zone_is_refused(alice, alice_api):
    file = make_file(alice, "a.txt")
    response = alice_api.post(
        "/api/v1/shares/", {"file": str(file.public_id), "expires_at": NAIVE}, format="json"
    )
    assert response.status_code == 400
    body = response.json()
    assert "time zone" in body["detail"]
    assert "expires_at" in body["errors"]
    assert not ShareLink.objects.exists()


def test_a_share_with_expires_at_with_a_time_zone_is_kept_at_that_instant(alice, alice_api):
    file = make_file(alice, "a.txt")
    response = alice_api.post(
        "/api/v1/shares/",
        {"file": str(file.public_id), "expires_at": NAIVE + "+01:00"},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert ShareLink.objects.get().expires_at.isoformat() == "2099-01-31T17:00:00+00:00"


def test_changing_a_share_to_an_expiry_without_a_time_zone_is_refused(alice, alice_api):
    file = make_file(alice, "a.txt")
    created = alice_api.post("/api/v1/shares/", {"file": str(file.public_id)}, format="json")
    share_id = created.json()["id"]
    response = alice_api.patch(f"/api/v1/shares/{share_id}/", {"expires_at": NAIVE}, format="json")
    assert response.status_code == 400
    assert "time zone" in response.json()["detail"]


def test_an_upload_link_with_expires_at_without_a_time_zone_is_refused(alice, alice_api):
    folder = make_folder(alice, "inbox")
    response = alice_api.post(
        "/api/v1/upload-links/",
        {"folder": str(folder.public_id), "expires_at": NAIVE},
        format="json",
    )
    assert response.status_code == 400
    assert "time zone" in response.json()["detail"]
    assert not UploadLink.objects.exists()


def test_a_token_with_expires_at_without_a_time_zone_is_refused(alice_api):
    response = alice_api.post("/api/v1/tokens/", {"name": "ci", "expires_at": NAIVE}, format="json")
    assert response.status_code == 400
    assert "time zone" in response.json()["detail"]
