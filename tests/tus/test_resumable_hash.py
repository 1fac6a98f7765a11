"""The running SHA-256 of a tus upload survives between requests, sealed; without it the
content is hashed once at completion."""

import hashlib
import os

import pytest

from files.models import File, TusUpload
from storage import crypto, sha256state
from storage.reader import _data_key
from tests.tus.helpers import create, patch, path_of

pytestmark = pytest.mark.django_db


def test_saved_state_continues_the_same_digest():
    data = os.urandom(300_001)
    first = sha256state.ResumableSha256()
    first.update(data[:12345])
    second = sha256state.ResumableSha256(first.state())
    second.update(data[12345:])
    assert second.hexdigest() == hashlib.sha256(data).hexdigest()
    assert len(first.state()) == sha256state.STATE_SIZE


def test_the_hash_state_is_stored_only_inside_the_sealed_tail(alice_api):
    assert sha256state.available()
    data = b"A" * 100  # the SHA-256 block buffer would hold these bytes in clear
    url = path_of(create(alice_api, 1000))
    assert patch(alice_api, url, 0, data).status_code == 204
    tail = bytes(TusUpload.objects.get().tail)
    assert b"A" * 32 not in tail


def test_an_upload_without_a_saved_hash_is_hashed_at_completion(alice, alice_api):
    # As an upload begun on a server whose libcrypto could not be used: flag 0, no state.
    data = os.urandom(400_000)
    url = path_of(create(alice_api, len(data)))
    assert patch(alice_api, url, 0, data[:300_000]).status_code == 204
    upload = TusUpload.objects.select_related("blob").get()
    key = _data_key(upload.blob)
    index = upload.offset // upload.blob.segment_size
    pending = data[index * upload.blob.segment_size : upload.offset]
    upload.tail = crypto.seal_tail(key, bytes(upload.header), index, b"\x00" + pending)
    upload.save(update_fields=["tail"])
    assert patch(alice_api, url, 300_000, data[300_000:]).status_code == 204
    assert File.objects.get(owner=alice).sha256 == hashlib.sha256(data).hexdigest()


def test_a_tail_sealed_for_another_segment_is_refused(alice_api, settings):
    settings.LOCKER_TUS_MIN_CHUNK = 0  # a 10-byte chunk of 1,000 bytes: the floor is not tested
    url = path_of(create(alice_api, 1000))
    assert patch(alice_api, url, 0, b"x" * 10).status_code == 204
    upload = TusUpload.objects.select_related("blob").get()
    key = _data_key(upload.blob)
    with pytest.raises(crypto.DecryptionError):
        crypto.open_tail(key, bytes(upload.header), 1, bytes(upload.tail))
    assert crypto.open_tail(key, bytes(upload.header), 0, bytes(upload.tail))
