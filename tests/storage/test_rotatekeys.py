"""manage.py rotatekeys: re-wrap data keys under the newest master key, content untouched."""

import base64
import hashlib
import os
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from storage import crypto
from storage.backends import get_blobstore
from storage.models import Blob
from storage.reader import iter_content
from storage.writer import content_writer

pytestmark = pytest.mark.django_db(transaction=True)


def master_key_entry(key_id: str) -> str:
    return f"{key_id}:{base64.b64encode(os.urandom(32)).decode()}"


def make_blobs(count: int) -> dict[int, bytes]:
    contents = {}
    for index in range(count):
        data = os.urandom(crypto.MIN_SEGMENT_SIZE + index)
        writer = content_writer(segment_size=crypto.MIN_SEGMENT_SIZE)
        writer.write(data)
        contents[writer.finish().pk] = data
    return contents


def stored_digest(key: str) -> str:
    store = get_blobstore()
    with store.open_range(key, 0, 1) as probe:
        total = probe.total_size
    digest = hashlib.sha256()
    with store.open_range(key, 0, total) as reader:
        digest.update(reader.read_exact(total))
    return digest.hexdigest()


def rotate(**options) -> str:
    out = StringIO()
    call_command("rotatekeys", stdout=out, stderr=StringIO(), **options)
    return out.getvalue()


def assert_contents(contents: dict[int, bytes]) -> None:
    for pk, data in contents.items():
        assert b"".join(iter_content(Blob.objects.get(pk=pk))) == data


def test_rotation_rewraps_every_row_and_leaves_content_alone(storage_backend, settings):
    contents = make_blobs(5)
    old_id = Blob.objects.values_list("master_key_id", flat=True).first()
    before = {blob.storage_key: stored_digest(blob.storage_key) for blob in Blob.objects.all()}
    wrapped_before = {blob.pk: bytes(blob.wrapped_key) for blob in Blob.objects.all()}
    settings.LOCKER_MASTER_KEYS = master_key_entry("k2026") + "," + settings.LOCKER_MASTER_KEYS

    output = rotate(batch_size=2)

    assert "Re-wrapped: 5." in output
    assert "Still under an older key: 0." in output
    assert set(Blob.objects.values_list("master_key_id", flat=True)) == {"k2026"}
    assert all(bytes(b.wrapped_key) != wrapped_before[b.pk] for b in Blob.objects.all())
    after = {blob.storage_key: stored_digest(blob.storage_key) for blob in Blob.objects.all()}
    assert after == before
    assert_contents(contents)
    # The old key can now be dropped from the configuration.
    settings.LOCKER_MASTER_KEYS = ",".join(
        entry for entry in settings.LOCKER_MASTER_KEYS.split(",") if not entry.startswith(old_id)
    )
    assert_contents(contents)


def test_an_interrupted_rotation_finishes_when_run_again(local_storage_settings, settings):
    contents = make_blobs(5)
    settings.LOCKER_MASTER_KEYS = master_key_entry("next") + "," + settings.LOCKER_MASTER_KEYS

    first = rotate(batch_size=2, max_batches=1)  # stops after one batch, as if interrupted
    assert "Re-wrapped: 2." in first
    assert "Still under an older key: 3." in first
    assert Blob.objects.filter(master_key_id="next").count() == 2
    assert_contents(contents)  # a half-rotated locker reads fine

    second = rotate(batch_size=2)
    assert "Re-wrapped: 3." in second
    third = rotate()
    assert "Re-wrapped: 0." in third
    assert set(Blob.objects.values_list("master_key_id", flat=True)) == {"next"}
    assert_contents(contents)


def test_rows_under_an_unknown_master_key_are_reported_and_the_rest_rotated(
    local_storage_settings, settings
):
    orphaned = make_blobs(1)
    settings.LOCKER_MASTER_KEYS = master_key_entry("middle")
    kept = make_blobs(2)
    settings.LOCKER_MASTER_KEYS = master_key_entry("newest") + "," + settings.LOCKER_MASTER_KEYS

    with pytest.raises(CommandError, match="could not be unwrapped"):
        rotate()

    assert Blob.objects.filter(master_key_id="newest").count() == 2
    assert Blob.objects.get(pk=next(iter(orphaned))).master_key_id != "newest"
    assert_contents(kept)


def test_nothing_to_do_says_so(local_storage_settings):
    make_blobs(2)
    output = rotate()
    assert "Re-wrapped: 0." in output
    assert "Every data key is wrapped by the newest master key" in output


def test_concurrent_rotations_rewrap_each_row_exactly_once(local_storage_settings, settings):
    import threading

    from django.db import connection

    from storage.masterkeys import rotate_master_keys

    contents = make_blobs(12)
    settings.LOCKER_MASTER_KEYS = master_key_entry("conc") + "," + settings.LOCKER_MASTER_KEYS
    results = []

    def run() -> None:
        try:
            results.append(rotate_master_keys(batch_size=3))
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(result.rewrapped for result in results) == 12
    assert all(result.failed == 0 for result in results)
    assert set(Blob.objects.values_list("master_key_id", flat=True)) == {"conc"}
    assert_contents(contents)
