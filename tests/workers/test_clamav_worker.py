"""End to end with a real worker process, a Redis broker and a real clamd: upload → scan → state.

One worker serves the whole module (on its own queue); clamd is stopped and started again in
the outage test.
"""

import pytest
from django.test import Client

from files.models import File
from sharing.services import share_create
from tests.fixtures.files import upload
from tests.workers import media
from tests.workers.conftest import EICAR, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def _uploaded(api, name: str, data: bytes) -> File:
    response = upload(api, name, data)
    assert response.status_code == 201, response.content
    return File.objects.get(public_id=response.json()["id"])


def _wait_state(file: File, state: str, timeout: float = 40) -> File:
    wait_for(
        lambda: File.objects.get(pk=file.pk).state == state,
        timeout=timeout,
        what=f"{file.name} to become {state}",
    )
    file.refresh_from_db()
    return file


def test_clean_photo_becomes_ready_with_a_thumbnail(alice, alice_api, on_clamav_worker):
    file = _uploaded(alice_api, "photo.jpg", media.jpeg((800, 600)))
    assert file.state == "pending"
    file = _wait_state(file, "ready")
    wait_for(lambda: File.objects.get(pk=file.pk).thumbnail_state == "ready", what="thumbnail")
    response = alice_api.get(f"/api/v1/files/{file.public_id}/thumbnail?size=256")
    assert response.status_code == 200


def test_eicar_becomes_infected_and_nobody_can_download_it(alice, alice_api, on_clamav_worker):
    file = _uploaded(alice_api, "eicar.com", EICAR)
    file = _wait_state(file, "infected")
    assert "Locker.Test.EICAR" in file.state_reason
    # The owner sees why, but cannot download it either.
    detail = alice_api.get(f"/api/v1/files/{file.public_id}/").json()
    assert detail["state"] == "infected" and "EICAR" in detail["state_reason"]
    response = alice_api.get(f"/api/v1/files/{file.public_id}/content")
    assert response.status_code == 403
    assert "virus" in response.json()["detail"]
    _, token = share_create(owner=alice, file=file)
    page = Client().get(f"/s/{token}")
    assert b"cannot be downloaded" in page.content
    assert Client().get(f"/s/{token}/download").status_code == 409
    # The owner can still delete it.
    assert alice_api.delete(f"/api/v1/files/{file.public_id}/").status_code == 204


def test_pending_file_is_not_served_by_a_share_link_until_scanned(
    alice, alice_api, on_clamav_worker, clamd
):
    clamd.stop()
    try:
        file = _uploaded(alice_api, "report.txt", b"numbers\n")
        _, token = share_create(owner=alice, file=file)
        assert Client().get(f"/s/{token}/download").status_code == 409
        # The owner may still download her own pending file.
        assert alice_api.get(f"/api/v1/files/{file.public_id}/content").status_code == 200
    finally:
        clamd.start()
    _wait_state(file, "ready")
    assert Client().get(f"/s/{token}/download").status_code == 200


def test_scanner_down_is_an_error_then_retried_to_ready(alice, alice_api, on_clamav_worker, clamd):
    clamd.stop()
    try:
        file = _uploaded(alice_api, "later.txt", b"scan me when you can\n")
        file = _wait_state(file, "error")
        assert "retried" in file.state_reason
    finally:
        clamd.start()
    file = _wait_state(file, "ready", timeout=60)
    assert file.state_reason == ""
