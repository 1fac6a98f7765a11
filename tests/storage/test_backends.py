"""The storage backends, on a local directory and on a real S3 server (SeaweedFS)."""

import os
import secrets

import pytest

from storage.backends import get_blobstore
from storage.backends.base import ObjectMissing, StorageUnavailable, object_name
from storage.backends.local import LocalBlobStore
from storage.backends.s3 import PART_SIZE, S3BlobStore, part_size_for


def new_key() -> str:
    return secrets.token_hex(16)


def store_bytes(store, key: str, data: bytes, piece: int = 1 << 20) -> None:
    writer = store.writer(key)
    for offset in range(0, len(data), piece):
        writer.write(data[offset : offset + piece])
    writer.finish()


def read_all(store, key: str) -> bytes:
    with store.open_range(key, 0, 1) as probe:
        total = probe.total_size
    with store.open_range(key, 0, total) as reader:
        return reader.read_exact(total)


def test_storage_backend_fixture_selects_the_matching_store(storage_backend):
    store = get_blobstore()
    expected = {"local": LocalBlobStore, "s3": S3BlobStore}[storage_backend]
    assert isinstance(store, expected)
    store.check()


def test_each_test_starts_with_an_empty_store(storage_backend):
    assert list(get_blobstore().iter_objects()) == []
    assert list(get_blobstore().iter_unfinished()) == []


def test_finished_object_reads_back_whole_and_by_range(storage_backend):
    store = get_blobstore()
    key = new_key()
    data = os.urandom(300_000)
    store_bytes(store, key, data, piece=70_001)
    assert read_all(store, key) == data
    with store.open_range(key, 1000, 5000) as reader:
        assert reader.total_size == len(data)
        assert reader.read_exact(10_000) == data[1000:6000]


def test_object_is_invisible_until_finish(storage_backend):
    store = get_blobstore()
    key = new_key()
    writer = store.writer(key)
    writer.write(b"x" * 1000)
    assert not store.exists(key)
    assert [k for k, _ in store.iter_objects()] == []
    with pytest.raises(ObjectMissing):
        store.open_range(key, 0, 10)
    writer.finish()
    assert store.exists(key)
    assert [k for k, _ in store.iter_objects()] == [key]


def test_multipart_object_round_trips(storage_backend):
    store = get_blobstore()
    key = new_key()
    data = os.urandom(2 * PART_SIZE + 12345)
    store_bytes(store, key, data)
    assert read_all(store, key) == data
    with store.open_range(key, PART_SIZE - 10, 20) as reader:
        assert reader.read_exact(20) == data[PART_SIZE - 10 : PART_SIZE + 10]


def test_abort_after_parts_were_uploaded_leaves_nothing(storage_backend):
    store = get_blobstore()
    key = new_key()
    writer = store.writer(key)
    writer.write(os.urandom(PART_SIZE + 100))  # one part already sent (S3), file started (local)
    assert [k for k, _ in store.iter_unfinished()] == [key]
    writer.abort()
    writer.abort()
    assert list(store.iter_objects()) == []
    assert list(store.iter_unfinished()) == []
    assert not store.exists(key)


def test_discard_unfinished_removes_an_upload_whose_writer_is_gone(storage_backend):
    store = get_blobstore()
    key = new_key()
    writer = store.writer(key)
    writer.write(os.urandom(PART_SIZE + 1))
    del writer  # the process "crashed": nobody will abort it
    store.discard_unfinished(key)
    store.discard_unfinished(key)
    assert list(store.iter_unfinished()) == []


def test_writer_holds_at_most_one_part_in_memory(storage_backend):
    store = get_blobstore()
    writer = store.writer(new_key())
    piece = os.urandom(256 * 1024 + 16)
    for _ in range(80):  # 20 MiB
        writer.write(piece)
        assert writer.buffered < PART_SIZE + len(piece)
    writer.finish()


def test_delete_is_idempotent(storage_backend):
    store = get_blobstore()
    key = new_key()
    store_bytes(store, key, b"content")
    store.delete(key)
    store.delete(key)
    assert not store.exists(key)
    assert list(store.iter_objects()) == []
    with pytest.raises(ObjectMissing):
        store.open_range(key, 0, 1)


def test_listing_yields_every_key_with_its_time(storage_backend):
    store = get_blobstore()
    keys = {new_key() for _ in range(3)}
    for key in keys:
        store_bytes(store, key, key.encode())
    listed = dict(store.iter_objects())
    assert set(listed) == keys
    assert all(when.tzinfo is not None for when in listed.values())


def test_range_beyond_the_end_is_reported_missing_or_short(storage_backend):
    store = get_blobstore()
    key = new_key()
    store_bytes(store, key, b"0123456789")
    try:
        reader = store.open_range(key, 5, 100)
    except ObjectMissing:
        return
    with reader:
        assert reader.read_exact(100) == b"56789"


@pytest.mark.parametrize("bad", ["../../etc/passwd", "ABCDEF" * 6, "a" * 31, "", "a/b" * 12])
def test_storage_keys_that_are_not_random_hex_are_refused(bad):
    with pytest.raises(ValueError):
        object_name(bad)


def test_local_objects_are_fanned_out_and_private(local_storage_settings):
    store = get_blobstore()
    key = new_key()
    store_bytes(store, key, b"secret")
    path = local_storage_settings / key[:2] / key[2:4] / key
    assert path.is_file()
    assert path.stat().st_mode & 0o077 == 0


def test_local_writer_never_leaves_a_half_file_under_the_final_key(local_storage_settings):
    store = get_blobstore()
    key = new_key()
    writer = store.writer(key)
    writer.write(b"half")
    final = local_storage_settings / key[:2] / key[2:4] / key
    assert not final.exists()
    assert final.with_name(key + ".partial").exists()
    writer.finish()
    assert final.read_bytes() == b"half"
    assert not final.with_name(key + ".partial").exists()


@pytest.mark.s3
def test_s3_check_fails_when_the_server_is_unreachable(s3_settings, settings):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead_port = sock.getsockname()[1]
    options = {
        **settings.STORAGES["default"]["OPTIONS"],
        "endpoint_url": f"http://127.0.0.1:{dead_port}",
    }
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": options},
    }
    with pytest.raises(StorageUnavailable):
        get_blobstore().check()


@pytest.mark.s3
def test_s3_prepare_creates_a_missing_bucket(s3_settings, settings):
    bucket = f"locker-prep-{secrets.token_hex(4)}"
    options = {**settings.STORAGES["default"]["OPTIONS"], "bucket_name": bucket}
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": options},
    }
    store = get_blobstore()
    with pytest.raises(StorageUnavailable):
        store.check()
    store.prepare()
    store.prepare()
    store.check()


@pytest.mark.s3
def test_s3_read_resumes_where_it_stopped_when_the_connection_drops(s3_settings):
    store = get_blobstore()
    key = new_key()
    data = os.urandom(3 << 20)
    store_bytes(store, key, data)
    with store.open_range(key, 10, len(data) - 10) as reader:
        first = reader.read_exact(1 << 20)
        reader._body._raw_stream.release_conn()  # the server dropped us mid-body
        reader._body._raw_stream._fp.close()
        rest = reader.read_exact(len(data))
        assert reader._resumes == 1
    assert first + rest == data[10:]


@pytest.mark.s3
def test_s3_resumed_read_refuses_an_object_replaced_meanwhile(s3_settings):
    from botocore.exceptions import ClientError

    store = get_blobstore()
    key = new_key()
    store_bytes(store, key, os.urandom(3 << 20))
    with store.open_range(key, 0, 3 << 20) as reader:
        reader.read_exact(1 << 20)
        store_bytes(store, key, os.urandom(3 << 20))
        reader._body._raw_stream._fp.close()
        with pytest.raises((ClientError, ObjectMissing)):
            reader.read_exact(3 << 20)


def test_s3_part_sizes_grow_so_10000_parts_hold_more_than_a_terabyte():
    sizes = [part_size_for(number) for number in range(1, 10_001)]
    assert sizes[0] == PART_SIZE
    assert sizes[999] == PART_SIZE
    assert sizes[1000] == 2 * PART_SIZE
    assert all(5 * 1024 * 1024 <= size <= 5 * 1024**3 for size in sizes)
    assert sum(sizes) > 1024**4
