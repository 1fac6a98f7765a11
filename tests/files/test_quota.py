import threading

import pytest
from django.db import connection

from files import services
from files.models import Blob, File, UploadReservation
from tests.fixtures.files import make_file, stored_keys, upload
from tests.fixtures.users import api_client_for


def test_upload_over_quota_answers_507_before_storing(alice, alice_api, storage_backend):
    alice.quota_bytes = 10_000
    alice.save()
    make_file(alice, "existing.bin", b"x" * 6_000)
    before = stored_keys()
    response = upload(alice_api, "too-big.bin", b"y" * 5_000)
    assert response.status_code == 507
    assert "space" in response.json()["detail"]
    assert stored_keys() == before
    assert Blob.objects.count() == 1
    assert not UploadReservation.objects.exists()


def test_zero_quota_means_unlimited(alice, alice_api):
    alice.quota_bytes = 0
    alice.save()
    assert upload(alice_api, "any.bin", b"z" * 50_000).status_code == 201


def test_usage_counts_uploads_and_trash_until_purged(alice, alice_api):
    first = upload(alice_api, "a.bin", b"a" * 1000).json()
    upload(alice_api, "b.bin", b"b" * 500)
    alice.refresh_from_db()
    assert alice.used_bytes == 1500
    alice_api.delete(f"/api/v1/files/{first['id']}/")
    alice.refresh_from_db()
    assert alice.used_bytes == 1500  # the trash still holds it
    alice_api.delete("/api/v1/trash/")
    alice.refresh_from_db()
    assert alice.used_bytes == 500


def test_reservations_count_against_the_quota(alice):
    alice.quota_bytes = 1000
    alice.save()
    services.upload_reservation_create(user=alice, size=700)
    with pytest.raises(services.QuotaExceeded):
        services.upload_reservation_create(user=alice, size=400)


def test_expired_reservations_stop_counting_and_are_cleaned(alice):
    from django.utils import timezone

    from files.tasks import cleanup_partial_uploads

    alice.quota_bytes = 1000
    alice.save()
    stale = services.upload_reservation_create(user=alice, size=900)
    UploadReservation.objects.filter(pk=stale.pk).update(
        expires_at=timezone.now() - timezone.timedelta(seconds=1)
    )
    services.upload_reservation_create(user=alice, size=900)
    assert cleanup_partial_uploads() == {"blobs": 0, "reservations": 1}


@pytest.mark.django_db(transaction=True)
def test_concurrent_uploads_cannot_together_overrun_the_quota(alice, local_storage_settings):
    alice.quota_bytes = 100_000
    alice.save()
    clients = [api_client_for(alice) for _ in range(6)]
    barrier = threading.Barrier(len(clients))
    statuses: list[int] = []

    def send(client, index):
        try:
            barrier.wait()
            response = upload(client, f"part-{index}.bin", bytes([index]) * 30_000)
            statuses.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(c, i)) for i, c in enumerate(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(set(statuses)) == [201, 507], statuses
    alice.refresh_from_db()
    stored = sum(File.objects.filter(owner=alice).values_list("size", flat=True))
    assert stored == alice.used_bytes <= alice.quota_bytes
    assert statuses.count(201) == File.objects.count() == Blob.objects.count()
    assert len(stored_keys()) == statuses.count(201)
    assert not UploadReservation.objects.exists()
