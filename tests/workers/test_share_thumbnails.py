"""Thumbnails inside share pages go through the share's one access function."""

import pytest
from django.test import Client

from files import processing
from files.models import File
from sharing.selectors import share_opaque_id
from sharing.services import share_create
from tests.fixtures.files import make_file, make_folder
from tests.workers import media

pytestmark = pytest.mark.django_db


@pytest.fixture
def photo(alice, settings):
    settings.LOCKER_SCANNER = "none"
    file = make_file(alice, "photo.png", media.png())
    processing.file_process(file_id=file.pk)
    file.refresh_from_db()
    assert file.thumbnail_state == "ready"
    return file


def test_share_page_thumbnail_is_served(alice, photo):
    _, token = share_create(owner=alice, file=photo)
    response = Client().get(f"/s/{token}/thumbnail?size=1024")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/webp"
    assert response["Referrer-Policy"] == "no-referrer"


def test_password_protected_share_hides_the_thumbnail_until_unlocked(alice, photo):
    _, token = share_create(owner=alice, file=photo, password="correct horse battery")
    assert Client().get(f"/s/{token}/thumbnail").status_code == 401


def test_expired_share_thumbnail_answers_410(alice, photo):
    from django.utils import timezone

    share, token = share_create(owner=alice, file=photo)
    type(share).objects.filter(pk=share.pk).update(expires_at=timezone.now())
    assert Client().get(f"/s/{token}/thumbnail").status_code == 410


def test_limited_share_gives_only_the_small_thumbnail(alice, photo):
    _, token = share_create(owner=alice, file=photo, max_downloads=1)
    assert Client().get(f"/s/{token}/thumbnail?size=256").status_code == 200
    assert Client().get(f"/s/{token}/thumbnail?size=1024").status_code == 404


def test_infected_file_has_no_thumbnail_in_a_share(alice, photo):
    File.objects.filter(pk=photo.pk).update(state="infected")
    _, token = share_create(owner=alice, file=photo)
    assert Client().get(f"/s/{token}/thumbnail").status_code == 404


def test_folder_share_thumbnail_of_a_file_inside(alice, settings):
    settings.LOCKER_SCANNER = "none"
    folder = make_folder(alice, "pics")
    file = make_file(alice, "a.png", media.png(), folder=folder)
    processing.file_process(file_id=file.pk)
    share, token = share_create(owner=alice, folder=folder)
    opaque = share_opaque_id(share, file)
    assert Client().get(f"/s/{token}/files/{opaque}/thumbnail").status_code == 200
    page = Client().get(f"/s/{token}")
    assert f"/s/{token}/files/{opaque}/thumbnail".encode() in page.content
    # A file outside the shared folder is not reachable through it.
    outside = make_file(alice, "b.png", media.png())
    processing.file_process(file_id=outside.pk)
    other = share_opaque_id(share, outside)
    assert Client().get(f"/s/{token}/files/{other}/thumbnail").status_code == 404
