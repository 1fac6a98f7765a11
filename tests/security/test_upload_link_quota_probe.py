"""Finding F1 (docs/security.md): the holder of an upload link without max_file_size must not
find out how much room its owner has left by bisecting declared sizes between 201 and 507.

The refusal is the same sentence whatever the size, and after NO_ROOM_REFUSALS.limit of them in
an hour every upload through the link answers 429 with a sentence, the ones that would fit too,
so the boundary cannot be probed on."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from files.models import File
from sharing.upload_links import NO_ROOM_REFUSALS, upload_link_create
from tests.sharing.conftest import make_folder
from tests.tus.helpers import create

ROOM = 100_000
NO_ROOM = {"detail": "There is no room left for uploads on this link."}


@pytest.fixture
def probed_link(alice):
    alice.quota_bytes = ROOM
    alice.save()
    link, token = upload_link_create(owner=alice, folder=make_folder(alice, "Inbox"))
    return link, token


def test_bisecting_the_owners_room_with_tus_creations_stops_at_the_limit(client, probed_link):
    _link, token = probed_link
    base = f"/r/{token}/tus/"
    low, high, answers = 0, 10 * ROOM, []
    for _ in range(30):  # an attacker's bisection, declared sizes only
        middle = (low + high) // 2
        response = create(client, middle, base=base)
        answers.append(response.status_code)
        if response.status_code == 429:
            break
        if response.status_code == 507:
            assert response.json() == NO_ROOM  # the same sentence whatever the size
            high = middle
        else:
            assert response.status_code == 201
            low = middle
    assert answers.count(507) == NO_ROOM_REFUSALS.limit
    assert answers[-1] == 429
    refused = create(client, 1, base=base)  # would fit: refused all the same
    assert refused.status_code == 429
    assert "try again later" in refused.json()["detail"]
    assert int(refused["Retry-After"]) > 0


def test_form_uploads_are_refused_alike_and_count_towards_the_same_limit(client, probed_link):
    _link, token = probed_link
    answers = set()
    for size in (ROOM + 1, 2 * ROOM, 5 * ROOM):
        body = {"file": [SimpleUploadedFile("probe.bin", b"x" * size)]}
        response = client.post(f"/r/{token}/upload", body)
        assert response.status_code == 507
        answers.add(response.content)
    assert answers == {b'{"detail": "There is no room left for uploads on this link."}'}
    for size in range(NO_ROOM_REFUSALS.limit - 3):
        assert create(client, ROOM + 1 + size, base=f"/r/{token}/tus/").status_code == 507
    small = client.post(f"/r/{token}/upload", {"file": [SimpleUploadedFile("a.txt", b"a")]})
    assert small.status_code == 429
    assert "detail" in small.json()
    assert not File.objects.exists()


def test_refusals_on_one_link_do_not_block_another(client, alice, probed_link):
    _link, token = probed_link
    for _ in range(NO_ROOM_REFUSALS.limit):
        assert create(client, 2 * ROOM, base=f"/r/{token}/tus/").status_code == 507
    assert create(client, 1, base=f"/r/{token}/tus/").status_code == 429
    _other, other_token = upload_link_create(owner=alice, folder=make_folder(alice, "Other"))
    assert create(client, 1, base=f"/r/{other_token}/tus/").status_code == 201


def test_uploads_that_fit_never_count(client, probed_link):
    _link, token = probed_link
    for number in range(NO_ROOM_REFUSALS.limit + 2):
        body = {"file": [SimpleUploadedFile(f"{number}.txt", b"fits")]}
        assert client.post(f"/r/{token}/upload", body).status_code == 201
