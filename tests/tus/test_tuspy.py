"""The official Python client, tuspy, against the live server: a 50 MiB upload in 5 MiB chunks
that is cut off mid-way and resumed by a new client, on both storage backends."""

import hashlib
import os

import pytest
from tusclient import client as tus_client
from tusclient.storage.filestorage import FileStorage

from accounts.services import api_token_create
from files.models import File, TusUpload
from tests.tus.helpers import stored_bytes

MIB = 1024 * 1024


@pytest.fixture
def big_file(tmp_path):
    data = os.urandom(50 * MIB)
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    return path, hashlib.sha256(data).hexdigest()


def test_tuspy_upload_resumes_after_the_connection_is_dropped(
    storage_backend, live_server, alice, big_file, tmp_path
):
    path, sha256 = big_file
    _token, secret = api_token_create(user=alice, name="tuspy")
    headers = {"Authorization": f"Bearer {secret}"}
    url_storage = FileStorage(str(tmp_path / "tus-urls.json"))
    options = {
        "file_path": str(path),
        "chunk_size": 5 * MIB,
        "metadata": {"filename": "big.bin", "filetype": "application/octet-stream"},
        "store_url": True,
        "url_storage": url_storage,
        "upload_checksum": True,
    }
    first = tus_client.TusClient(f"{live_server.url}/api/v1/tus/", headers=headers)
    uploader = first.uploader(**options)
    uploader.upload(stop_at=20 * MIB)
    assert uploader.offset == 20 * MIB
    upload_url = uploader.url
    # The connection and the client are gone; a new client finds the upload by its fingerprint
    # and asks the server (HEAD) where to go on.
    uploader.client = None
    del uploader, first
    assert TusUpload.objects.get().offset == 20 * MIB
    second = tus_client.TusClient(f"{live_server.url}/api/v1/tus/", headers=headers)
    resumed = second.uploader(**options)
    assert resumed.url == upload_url
    assert resumed.offset == 20 * MIB
    resumed.upload()
    assert resumed.offset == 50 * MIB
    file = File.objects.get(owner=alice)
    assert file.name == "big.bin"
    assert file.size == 50 * MIB
    assert file.sha256 == sha256
    assert hashlib.sha256(stored_bytes(file)).hexdigest() == sha256
