"""tus uploads on both storage backends: the round trip, surviving a restart between chunks,
and nothing left behind by termination or completion."""

import hashlib
import os

import pytest
from django.core.files.storage import storages

from files.models import File, TusUpload
from storage.backends import get_blobstore
from tests.tus.helpers import TUS, create, head, patch, path_of, stored_bytes

pytestmark = pytest.mark.django_db

MIB = 1024 * 1024


def _restart() -> None:
    """What a new server process would start with: no cached storage, no S3 client."""
    storages._storages.clear()


def _leftovers() -> tuple[list, list]:
    store = get_blobstore()
    return list(store.iter_objects()), list(store.iter_unfinished())


def test_round_trip_across_parts_with_a_restart_between_every_chunk(storage_backend, alice_api):
    # 19 MiB in uneven chunks: S3 parts (8 MiB) fill over several requests, the stage object
    # carries what is short of a part, and every chunk ends inside a 256 KiB segment.
    data = os.urandom(19 * MIB + 333)
    url = path_of(create(alice_api, len(data), name="big.bin"))
    offset = 0
    chunk = 3 * MIB + 4097
    while offset < len(data):
        _restart()
        piece = data[offset : offset + chunk]
        response = patch(alice_api, url, offset, piece)
        assert response.status_code == 204, response.content
        offset += len(piece)
        if offset < len(data):
            assert head(alice_api, url)["Upload-Offset"] == str(offset)
    file = File.objects.get()
    assert file.sha256 == hashlib.sha256(data).hexdigest()
    _restart()
    assert stored_bytes(file) == data
    objects, unfinished = _leftovers()
    assert [key for key, _ in objects] == [file.blob.storage_key]
    assert unfinished == []


def test_termination_leaves_nothing_in_storage(storage_backend, alice_api):
    data = os.urandom(9 * MIB)
    url = path_of(create(alice_api, 20 * MIB))
    assert patch(alice_api, url, 0, data).status_code == 204
    _restart()
    assert alice_api.delete(url, **TUS).status_code == 204
    assert not TusUpload.objects.exists()
    assert _leftovers() == ([], [])


def test_a_chunk_with_a_wrong_checksum_leaves_the_upload_resumable(storage_backend, alice_api):
    from tests.tus.helpers import checksum

    data = os.urandom(10 * MIB + 5)
    url = path_of(create(alice_api, len(data)))
    first, rest = data[: 9 * MIB], data[9 * MIB :]
    assert patch(alice_api, url, 0, first).status_code == 204
    bad = patch(alice_api, url, len(first), rest, HTTP_UPLOAD_CHECKSUM=checksum("sha1", b"no"))
    assert bad.status_code == 460
    _restart()
    good = patch(alice_api, url, len(first), rest, HTTP_UPLOAD_CHECKSUM=checksum("md5", rest))
    assert good.status_code == 204
    assert stored_bytes(File.objects.get()) == data


def test_orphan_cleanup_keeps_the_stage_object_of_an_upload_in_progress(storage_backend, alice_api):
    from datetime import timedelta

    from django.utils import timezone

    from storage.cleanup import cleanup_orphaned_objects

    data = os.urandom(3 * MIB)
    url = path_of(create(alice_api, 20 * MIB))
    assert patch(alice_api, url, 0, data).status_code == 204
    cleanup_orphaned_objects(older_than=timezone.now() + timedelta(hours=1))
    _restart()
    assert patch(alice_api, url, len(data), data).status_code == 204
    assert head(alice_api, url)["Upload-Offset"] == str(2 * len(data))
