"""Finding F1 (docs/security.md): the holder of an upload link without max_file_size must not
find out how much room its owner has left by bisecting declared sizes between 201 and 507.

The refusal is the same sentence whatever the size, and after NO_ROOM_REFUSALS.limit of them in
an hour every upload through the link answers 429 with a sentence, the ones that would fit too,
so the boundary cannot be probed on.

Finding M1: an upload that fits told as much for free when its holder cancelled it at once;
now an upload through the link that ends with nothing kept (cancelled by its holder, expired
before a byte arrived, failed) counts in the same budget."""

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from files import tus
from files.models import File, TusUpload, UploadReservation
from files.tasks import cleanup_partial_uploads
from sharing.upload_links import NO_ROOM_REFUSALS, upload_link_create
from tests.sharing.conftest import make_folder
from tests.tus.helpers import TUS, create, path_of

ROOM = 100_000
NO_ROOM = {"code": "quota_exceeded", "detail": "There is no room left for uploads on this link."}


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
    assert answers == {
        b'{"code": "quota_exceeded", "detail": "There is no room left for uploads on this link."}'
    }
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


# --- Finding M1: uploads that fit, then end with nothing kept ---------------------------------


def delete(client, url: str):
    return client.generic("DELETE", url, **TUS)


def test_an_egg_drop_search_with_cancelled_uploads_that_fit_stops_at_the_limit(client, probed_link):
    """The attack of M1: each size that fits is cancelled at once so it holds no room, and the
    search needs no refusal at all; every cancelled creation counts as a probe."""
    _link, token = probed_link
    base = f"/r/{token}/tus/"
    answers = []
    for step in range(1, 30):  # climbing in steps, as an egg-drop search does
        response = create(client, step * ROOM // 30, base=base)
        answers.append(response.status_code)
        if response.status_code != 201:
            break
        assert delete(client, path_of(response)).status_code == 204
    assert answers == [201] * NO_ROOM_REFUSALS.limit + [429], answers
    assert "try again later" in create(client, 1, base=base).json()["detail"]


def test_uploads_that_expire_before_a_byte_arrives_count_as_probes(client, probed_link):
    link, token = probed_link
    base = f"/r/{token}/tus/"
    for _ in range(NO_ROOM_REFUSALS.limit):
        assert create(client, ROOM // 2, base=base).status_code == 201
        # Its holder never sends a byte: it expires (and its reservation stops counting).
        past = timezone.now() - timedelta(seconds=1)
        TusUpload.objects.filter(link=link).update(expires_at=past)
        UploadReservation.objects.filter(link=link).update(expires_at=past)
    # Counted when the link is next used, without waiting for the cleanup.
    assert create(client, 1, base=base).status_code == 429
    assert not TusUpload.objects.exists() and not UploadReservation.objects.exists()


def test_the_cleanup_counts_uploads_that_expired_without_a_byte(client, probed_link):
    link, token = probed_link
    for _ in range(NO_ROOM_REFUSALS.limit):
        assert create(client, 10, base=f"/r/{token}/tus/").status_code == 201
    TusUpload.objects.filter(link=link).update(expires_at=timezone.now())
    cleanup_partial_uploads()
    assert not TusUpload.objects.exists()
    assert NO_ROOM_REFUSALS.retry_after(str(link.pk)) is not None


def test_form_uploads_that_end_with_nothing_kept_count_as_probes(client, alice):
    """A form upload is reserved by its Content-Length; one that then fails keeps nothing."""
    alice.quota_bytes = ROOM
    alice.save()
    _link, token = upload_link_create(
        owner=alice, folder=make_folder(alice, "Inbox"), max_file_size=10
    )
    for _ in range(NO_ROOM_REFUSALS.limit):
        body = {"file": [SimpleUploadedFile("big.bin", b"x" * 20)]}  # past the link's cap
        assert client.post(f"/r/{token}/upload", body).status_code == 413
    small = client.post(f"/r/{token}/upload", {"file": [SimpleUploadedFile("a.txt", b"a")]})
    assert small.status_code == 429
    assert not File.objects.exists()


def test_uploads_that_kept_bytes_and_the_owners_cancellations_never_count(
    client, alice, alice_api, probed_link, settings
):
    settings.LOCKER_TUS_MIN_CHUNK = 1024
    link, token = probed_link
    base = f"/r/{token}/tus/"
    for _ in range(NO_ROOM_REFUSALS.limit + 2):
        # Some bytes arrived, then its holder gave up.
        started = create(client, 4096, base=base, body=b"b" * 1024)
        assert started.status_code == 201 and started["Upload-Offset"] == "1024"
        assert delete(client, path_of(started)).status_code == 204
        # The owner cancels one that had received nothing.
        create(client, 4096, base=base)
        reservation = UploadReservation.objects.get(link=link)
        cancelled = alice_api.delete(f"/api/v1/uploads/{reservation.public_id}/")
        assert cancelled.status_code == 204, cancelled.content
    assert NO_ROOM_REFUSALS.retry_after(str(link.pk)) is None
    assert create(client, 1, base=base).status_code == 201


# --- A link creation that dies between its reservation and its record ---------------------------


def test_a_link_creation_dying_before_its_record_holds_the_quota_for_a_lease_only(
    client, probed_link, monkeypatch, settings
):
    """Before the upload is recorded, nobody could resume or delete it: its reservation must
    lapse within LOCKER_UPLOAD_LEASE (it was LOCKER_UPLOAD_LINK_IDLE, 15 minutes), as an
    account's own creation's does. Recorded, it lives as long as the upload."""
    settings.LOCKER_UPLOAD_LEASE = 120
    settings.LOCKER_UPLOAD_LINK_IDLE = 3600
    link, token = probed_link
    held_until = []

    def dies(**kwargs):  # the storage step between the reservation and the record
        held_until.append(UploadReservation.objects.get(link=link).expires_at)
        raise RuntimeError("the process dies here")

    real_start = tus.resumable_start
    monkeypatch.setattr(tus, "resumable_start", dies)
    with pytest.raises(RuntimeError):
        create(client, ROOM // 2, base=f"/r/{token}/tus/")
    assert held_until[0] <= timezone.now() + timedelta(seconds=settings.LOCKER_UPLOAD_LEASE)

    monkeypatch.setattr(tus, "resumable_start", real_start)
    assert create(client, ROOM // 2, base=f"/r/{token}/tus/").status_code == 201
    upload = TusUpload.objects.get(link=link)
    assert upload.reservation.expires_at == upload.expires_at
    assert upload.expires_at > timezone.now() + timedelta(seconds=3000)
