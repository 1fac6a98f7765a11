"""A blob that a file uses is never removed by the storage engine: not by delete_blob, not by
a writer's abort after finish (the engine finds the file through Blob's relations)."""

import hashlib

import pytest
from django.db.models import ProtectedError

from files.models import File, Folder
from storage.backends import get_blobstore
from storage.blobs import delete_blob
from storage.models import Blob
from storage.writer import content_writer
from tests.storage.test_writer_reader import read, store

pytestmark = pytest.mark.django_db(transaction=True)


def test_delete_blob_refuses_while_a_file_uses_it(local_storage_settings, alice):
    blob = store(b"in use")
    root = Folder.objects.create(owner=alice, parent=None, name="", name_key="")
    File.objects.create(
        owner=alice,
        folder=root,
        name="a.txt",
        name_key="a.txt",
        blob=blob,
        size=blob.size,
        content_type="text/plain",
        sha256=hashlib.sha256(b"in use").hexdigest(),
    )
    with pytest.raises(ProtectedError):
        delete_blob(blob)
    assert read(blob) == b"in use"


def test_abort_after_finish_removes_the_blob_unless_a_file_uses_it(local_storage_settings, alice):
    unused = content_writer()
    unused.write(b"unused")
    unused.finish()
    unused.abort()
    assert not Blob.objects.filter(pk=unused.blob.pk).exists()
    assert list(get_blobstore().iter_objects()) == []

    used = content_writer()
    used.write(b"used")
    blob = used.finish()
    root = Folder.objects.create(owner=alice, parent=None, name="", name_key="")
    File.objects.create(
        owner=alice,
        folder=root,
        name="b.txt",
        name_key="b.txt",
        blob=blob,
        size=blob.size,
        content_type="text/plain",
        sha256=hashlib.sha256(b"used").hexdigest(),
    )
    used.abort()
    assert read(blob) == b"used"
