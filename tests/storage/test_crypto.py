"""The encryption format and key handling, attacked the way a thief of the disk or bucket would."""

import base64
import os

import pytest
from django.core.exceptions import ImproperlyConfigured

from storage import checks, crypto, masterkeys
from storage.backends import get_blobstore
from storage.exceptions import CorruptContent
from storage.models import Blob
from storage.reader import iter_content
from storage.writer import content_writer

SEGMENT = crypto.MIN_SEGMENT_SIZE
SIZES = [0, 1, SEGMENT - 1, SEGMENT, SEGMENT + 1, 3 * SEGMENT, 3 * SEGMENT + 123]


def encrypt(data: bytes, key: bytes | None = None):
    key = key or crypto.new_data_key()
    return key, crypto.encrypt_bytes(data, key, SEGMENT)


def segment_bounds(index: int, size: int) -> tuple[int, int]:
    count = crypto.segment_count(size, SEGMENT)
    start = crypto.segment_offset(index, SEGMENT)
    plain = SEGMENT if index < count - 1 else size - (count - 1) * SEGMENT
    return start, start + plain + crypto.TAG_SIZE


def master_key_setting(*entries: tuple[str, bytes]) -> str:
    return ",".join(f"{key_id}:{base64.b64encode(raw).decode()}" for key_id, raw in entries)


# --- The object format ------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
def test_format_round_trips(size):
    data = os.urandom(size)
    key, sealed = encrypt(data)
    assert len(sealed) == crypto.encrypted_size(size, SEGMENT)
    assert crypto.decrypt_bytes(sealed, key, size, SEGMENT) == data


def test_empty_content_is_one_empty_final_segment():
    key, sealed = encrypt(b"")
    assert len(sealed) == crypto.HEADER_SIZE + crypto.TAG_SIZE
    assert crypto.segment_count(0, SEGMENT) == 1


def test_header_layout_is_magic_version_segment_size_and_nonce_prefix():
    _key, sealed = encrypt(b"hello")
    header = sealed[: crypto.HEADER_SIZE]
    assert header[:4] == crypto.MAGIC
    assert header[4] == crypto.FORMAT_VERSION
    assert int.from_bytes(header[5:9], "big") == SEGMENT
    assert header[9:16] != encrypt(b"hello")[1][9:16]  # random per object


def test_overhead_is_under_a_tenth_of_a_percent():
    for segment_size in (crypto.DEFAULT_SEGMENT_SIZE, 64 * 1024):
        size = 100 * segment_size
        overhead = crypto.encrypted_size(size, segment_size) - size
        assert overhead / size < 0.001
    # Measured on a real object too, not only from the formula.
    data = os.urandom(2 * crypto.DEFAULT_SEGMENT_SIZE + 10)
    sealed = crypto.encrypt_bytes(data, crypto.new_data_key())
    assert (len(sealed) - len(data)) / len(data) < 0.001


@pytest.mark.parametrize(
    "where",
    ["header magic", "header segment size", "header nonce", "segment body", "segment tag"],
)
def test_a_flipped_bit_anywhere_fails(where):
    size = 3 * SEGMENT
    key, sealed = encrypt(os.urandom(size))
    offset = {
        "header magic": 1,
        "header segment size": 8,
        "header nonce": 12,
        "segment body": crypto.segment_offset(1, SEGMENT) + 10,
        "segment tag": segment_bounds(1, size)[1] - 1,
    }[where]
    tampered = bytearray(sealed)
    tampered[offset] ^= 0x40
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt_bytes(bytes(tampered), key, size, SEGMENT)


def test_a_changed_format_version_fails():
    key, sealed = encrypt(b"data")
    tampered = bytearray(sealed)
    tampered[4] = 0  # a "legacy" version: there is no unauthenticated fallback
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt_bytes(bytes(tampered), key, 4, SEGMENT)


def test_swapped_segments_fail():
    size = 3 * SEGMENT
    key, sealed = encrypt(os.urandom(size))
    a0, a1 = segment_bounds(0, size)
    b0, b1 = segment_bounds(1, size)
    swapped = sealed[:a0] + sealed[b0:b1] + sealed[a0:a1] + sealed[b1:]
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt_bytes(swapped, key, size, SEGMENT)


def test_dropping_the_last_segment_fails_even_with_a_matching_size():
    size = 3 * SEGMENT
    key, sealed = encrypt(os.urandom(size))
    cut = sealed[: segment_bounds(2, size)[0]]
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt_bytes(cut, key, size, SEGMENT)
    # Even if the recorded size were changed to match, segment 1 is not marked final.
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt_bytes(cut, key, 2 * SEGMENT, SEGMENT)


def test_cutting_mid_segment_fails():
    size = 3 * SEGMENT
    key, sealed = encrypt(os.urandom(size))
    cut = sealed[: segment_bounds(2, size)[0] + 100]
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt_bytes(cut, key, size, SEGMENT)
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt_bytes(cut, key, 2 * SEGMENT + 100 - crypto.TAG_SIZE, SEGMENT)


def test_an_appended_segment_fails():
    size = 2 * SEGMENT
    key, sealed = encrypt(os.urandom(size))
    extra = sealed[slice(*segment_bounds(0, size))]
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt_bytes(sealed + extra, key, size, SEGMENT)
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt_bytes(sealed + extra, key, 3 * SEGMENT, SEGMENT)


def test_a_segment_transplanted_from_another_object_fails_even_under_the_same_key():
    size = 2 * SEGMENT
    key = crypto.new_data_key()
    _, first = encrypt(os.urandom(size), key)
    _, second = encrypt(os.urandom(size), key)
    start, end = segment_bounds(0, size)
    spliced = first[:start] + second[start:end] + first[end:]
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt_bytes(spliced, key, size, SEGMENT)


def test_the_wrong_data_key_fails():
    _key, sealed = encrypt(b"secret")
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt_bytes(sealed, crypto.new_data_key(), 6, SEGMENT)


def test_segment_sizes_outside_the_supported_range_are_refused():
    with pytest.raises(ValueError):
        crypto.SegmentEncryptor(crypto.new_data_key(), 1024)
    with pytest.raises(ValueError):
        crypto.SegmentEncryptor(crypto.new_data_key(), 64 * 1024 * 1024)


# --- Wrapping data keys -----------------------------------------------------------------------


def test_wrapped_key_unwraps_only_with_its_master_key_id_and_storage_key():
    master = os.urandom(32)
    data_key = crypto.new_data_key()
    wrapped = crypto.wrap_data_key(data_key, master_key=master, master_key_id="k1", storage_key="a")
    assert len(wrapped) == crypto.WRAPPED_KEY_SIZE
    assert crypto.unwrap_data_key(wrapped, master_key=master, master_key_id="k1", storage_key="a")
    for kwargs in (
        {"master_key": os.urandom(32), "master_key_id": "k1", "storage_key": "a"},
        {"master_key": master, "master_key_id": "k2", "storage_key": "a"},
        {"master_key": master, "master_key_id": "k1", "storage_key": "b"},
    ):
        with pytest.raises(crypto.DecryptionError):
            crypto.unwrap_data_key(wrapped, **kwargs)
    with pytest.raises(crypto.DecryptionError):
        crypto.unwrap_data_key(wrapped[:-1], master_key=master, master_key_id="k1", storage_key="a")


# --- Master key configuration -----------------------------------------------------------------


def test_master_keys_parse_newest_first():
    first, second = os.urandom(32), os.urandom(32)
    parsed = masterkeys.parse_master_keys(master_key_setting(("new", first), ("old", second)))
    assert parsed.newest_id == "new"
    assert parsed.newest == first
    assert parsed.get("old") == second


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("", "empty"),
        ("k1", "no ':'"),
        ("k1:not base64!", "not valid base64"),
        (f"k1:{base64.b64encode(b'short').decode()}", "5 bytes"),
        (f"bad id:{base64.b64encode(bytes(32)).decode()}", "invalid id"),
        (
            f"k1:{base64.b64encode(bytes(32)).decode()},k1:{base64.b64encode(bytes(32)).decode()}",
            "twice",
        ),
    ],
)
def test_a_malformed_master_key_setting_is_a_clear_error(value, reason):
    with pytest.raises(ImproperlyConfigured, match="LOCKER_MASTER_KEYS is malformed") as info:
        masterkeys.parse_master_keys(value)
    assert reason in str(info.value)


def test_the_system_check_reports_a_malformed_master_key_setting(settings):
    assert checks.check_master_keys() == []
    settings.LOCKER_MASTER_KEYS = "k1:tooshort"
    (error,) = checks.check_master_keys()
    assert error.id == "files.E001"
    assert "LOCKER_MASTER_KEYS is malformed" in error.msg


def test_the_generated_master_key_setting_parses(settings):
    assert masterkeys.parse_master_keys(settings.LOCKER_MASTER_KEYS).newest_id


# --- Attacks on stored blobs (database rows and stored objects) -------------------------------


def make_blob(data: bytes) -> Blob:
    writer = content_writer(segment_size=SEGMENT)
    writer.write(data)
    return writer.finish()


def raw_object(key: str) -> bytes:
    store = get_blobstore()
    with store.open_range(key, 0, 1) as probe:
        total = probe.total_size
    with store.open_range(key, 0, total) as reader:
        return reader.read_exact(total)


def put_raw_object(key: str, data: bytes) -> None:
    writer = get_blobstore().writer(key)
    writer.write(data)
    writer.finish()


@pytest.mark.django_db(transaction=True)
def test_wrapped_keys_swapped_between_two_rows_fail(local_storage_settings):
    first = make_blob(b"first secret")
    second = make_blob(b"second secret")
    Blob.objects.filter(pk=first.pk).update(wrapped_key=second.wrapped_key)
    Blob.objects.filter(pk=second.pk).update(wrapped_key=first.wrapped_key)
    for blob in (first, second):
        blob.refresh_from_db()
        with pytest.raises(CorruptContent):
            list(iter_content(blob))


@pytest.mark.django_db(transaction=True)
def test_objects_swapped_between_two_keys_fail(local_storage_settings):
    first = make_blob(os.urandom(2 * SEGMENT))
    second = make_blob(os.urandom(2 * SEGMENT))
    first_raw, second_raw = raw_object(first.storage_key), raw_object(second.storage_key)
    put_raw_object(first.storage_key, second_raw)
    put_raw_object(second.storage_key, first_raw)
    with pytest.raises(CorruptContent):
        list(iter_content(first))


@pytest.mark.django_db(transaction=True)
def test_a_segment_transplanted_between_stored_blobs_fails(local_storage_settings):
    first = make_blob(os.urandom(2 * SEGMENT))
    second = make_blob(os.urandom(2 * SEGMENT))
    start, end = segment_bounds(1, 2 * SEGMENT)
    victim = raw_object(first.storage_key)
    donor = raw_object(second.storage_key)
    put_raw_object(first.storage_key, victim[:start] + donor[start:end] + victim[end:])
    assert list(iter_content(first, 0, 10))  # segment 0 is still intact
    with pytest.raises(CorruptContent):
        list(iter_content(first, SEGMENT, 2 * SEGMENT))


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("damage", ["drop last segment", "cut mid-segment", "append", "empty"])
def test_a_truncated_or_extended_stored_object_fails_on_any_read(local_storage_settings, damage):
    blob = make_blob(os.urandom(3 * SEGMENT))
    raw = raw_object(blob.storage_key)
    start_last, _ = segment_bounds(2, 3 * SEGMENT)
    tampered = {
        "drop last segment": raw[:start_last],
        "cut mid-segment": raw[: start_last + 50],
        "append": raw + raw[start_last:],
        "empty": b"",
    }[damage]
    put_raw_object(blob.storage_key, tampered)
    with pytest.raises(CorruptContent):
        list(iter_content(blob, 0, 10))


@pytest.mark.django_db(transaction=True)
def test_a_missing_object_fails(local_storage_settings):
    blob = make_blob(b"gone")
    get_blobstore().delete(blob.storage_key)
    with pytest.raises(CorruptContent):
        list(iter_content(blob))


@pytest.mark.django_db(transaction=True)
def test_an_unknown_master_key_id_is_a_clear_error(local_storage_settings, settings):
    blob = make_blob(b"wrapped by a key we no longer have")
    settings.LOCKER_MASTER_KEYS = master_key_setting(("other", os.urandom(32)))
    with pytest.raises(masterkeys.UnknownMasterKeyError, match=blob.master_key_id) as info:
        iter_content(blob)
    assert "LOCKER_MASTER_KEYS" in str(info.value)


@pytest.mark.django_db(transaction=True)
def test_a_master_key_replaced_under_the_same_id_fails(local_storage_settings, settings):
    blob = make_blob(b"data")
    settings.LOCKER_MASTER_KEYS = master_key_setting((blob.master_key_id, os.urandom(32)))
    with pytest.raises(CorruptContent):
        iter_content(blob)


@pytest.mark.django_db(transaction=True)
def test_new_blobs_are_wrapped_by_the_newest_master_key(local_storage_settings, settings):
    older = masterkeys.master_keys().newest_id
    settings.LOCKER_MASTER_KEYS = (
        master_key_setting(("fresh", os.urandom(32))) + "," + settings.LOCKER_MASTER_KEYS
    )
    blob = make_blob(b"data")
    assert blob.master_key_id == "fresh"
    assert older != "fresh"
    assert b"".join(iter_content(blob)) == b"data"
