import threading

import pytest
from django.db import connection

from files import services
from files.models import File, UploadReservation
from storage.models import Blob
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
    assert cleanup_partial_uploads() == {"blobs": 0, "reservations": 1, "temp_files": 0}


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


def _tus_upload(alice, *, being_written: bool):
    from datetime import timedelta

    from django.utils import timezone

    from files.models import TusUpload
    from files.selectors import folder_get_root
    from storage.resumable import resumable_start

    now = timezone.now()
    reservation = services.upload_reservation_create(
        user=alice, size=10, expires_at=now + timedelta(hours=24)
    )
    state = resumable_start(length=10, holder=reservation.pk)
    return TusUpload.objects.create(
        upload_id=f"upload-{reservation.pk}",
        owner=alice,
        folder=folder_get_root(alice),
        filename="t.bin",
        length=10,
        blob=state.blob,
        header=state.header,
        storage_state=state.storage,
        reservation=reservation,
        active_at=now,
        expires_at=reservation.expires_at,
        lock_token="x" * 32 if being_written else "",
        locked_until=now + timedelta(minutes=1) if being_written else None,
    )


def _form_upload_blob(alice, *, lapsed: bool):
    from django.utils import timezone

    from storage.writer import content_writer

    reservation = services.upload_reservation_create(user=alice, size=10)
    writer = content_writer(holder=reservation.pk)
    writer.write(b"half")
    if lapsed:  # its request died: nobody renews the lease
        UploadReservation.objects.filter(pk=reservation.pk).update(
            expires_at=timezone.now() - timezone.timedelta(seconds=1)
        )
    return writer.blob


def test_cleanup_command_honours_hours_and_spares_what_live_requests_hold(alice):
    from django.core.management import call_command

    from files.models import TusUpload

    before = stored_keys()
    idle = _tus_upload(alice, being_written=False)
    busy = _tus_upload(alice, being_written=True)
    live_form = _form_upload_blob(alice, lapsed=False)
    dead_form = _form_upload_blob(alice, lapsed=True)

    call_command("cleanuppartialuploads")  # the default: idle for LOCKER_PARTIAL_UPLOAD_HOURS
    assert set(TusUpload.objects.values_list("pk", flat=True)) == {idle.pk, busy.pk}
    assert set(Blob.objects.values_list("pk", flat=True)) == {
        idle.blob_id,
        busy.blob_id,
        live_form.pk,
    }
    assert dead_form.storage_key not in stored_keys() - before

    call_command("cleanuppartialuploads", "--hours", "0")
    assert list(TusUpload.objects.values_list("pk", flat=True)) == [busy.pk]
    assert set(Blob.objects.values_list("pk", flat=True)) == {busy.blob_id, live_form.pk}
    assert stored_keys() - before == {
        Blob.objects.get(pk=busy.blob_id).storage_key,
        live_form.storage_key,
    }
    # What still counts against the quota: the PATCH in progress and the live form upload.
    assert UploadReservation.objects.live().filter(owner=alice).count() == 2


def test_a_blob_whose_reservation_is_gone_waits_like_one_without_a_lease(alice, settings):
    """Cancelling a form upload deletes its reservation; the blob being written then counts as
    holding no lease: reclaimed once older than LOCKER_UPLOAD_LEASE, not at once (as when the
    blob's reservation was a foreign key set to NULL; it is a plain holder column now)."""
    from datetime import timedelta

    from django.core.management import call_command
    from django.utils import timezone

    from storage.writer import content_writer

    reservation = services.upload_reservation_create(user=alice, size=10)
    writer = content_writer(holder=reservation.pk)
    writer.write(b"half")
    assert services.upload_cancel(reservation=reservation)
    try:
        call_command("cleanuppartialuploads", "--hours", "0")
        assert Blob.objects.filter(pk=writer.blob.pk).exists()
        Blob.objects.filter(pk=writer.blob.pk).update(
            created_at=timezone.now() - timedelta(seconds=settings.LOCKER_UPLOAD_LEASE + 1)
        )
        call_command("cleanuppartialuploads", "--hours", "0")
        assert not Blob.objects.filter(pk=writer.blob.pk).exists()
        assert writer.blob.storage_key not in stored_keys()
    finally:
        writer.abort()


def test_a_lapsed_lease_is_taken_again_only_while_its_room_is_free(alice):
    from django.utils import timezone

    alice.quota_bytes = 1000
    alice.save()
    stalled = services.upload_reservation_create(user=alice, size=700)
    UploadReservation.objects.filter(pk=stalled.pk).update(
        expires_at=timezone.now() - timezone.timedelta(seconds=1)
    )
    # It stopped counting the moment its lease lapsed, without any cleanup.
    newer = services.upload_reservation_create(user=alice, size=600)
    with pytest.raises(services.QuotaExceeded):
        services.upload_reservation_renew(reservation=stalled)
    services.upload_reservation_release(reservation=newer)
    services.upload_reservation_renew(reservation=stalled)  # the room is free again
    assert UploadReservation.objects.live().get().pk == stalled.pk
    services.upload_cancel(reservation=stalled)
    with pytest.raises(services.UploadCancelled):
        services.upload_reservation_renew(reservation=stalled)


def test_a_big_upload_renews_its_lease_without_a_query_per_chunk(alice, alice_api):
    from django.test.utils import CaptureQueriesContext

    assert upload(alice_api, "first.bin", b"f").status_code == 201  # first-use queries
    counts = []
    for size in (1_000_000, 16_000_000):
        with CaptureQueriesContext(connection) as queries:
            assert upload(alice_api, f"{size}.bin", b"q" * size).status_code == 201
        counts.append(len(queries))
    assert counts[0] == counts[1], counts
