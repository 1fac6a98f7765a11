"""SECURITY.md, "Encryption": the attacker who can write to the object store.

The "Processing hostile files" cases run against real workers and renderers in tests/workers
(see the table in docs/security.md); this file re-enacts what needs only storage access.
"""

import pytest

from files.content import CorruptContent
from files.models import File
from tests.files.test_crypto import put_raw_object, raw_object
from tests.fixtures.files import upload


def _download(api, file_id):
    response = api.get(f"/api/v1/files/{file_id}/content")
    if response.status_code != 200:
        return response.status_code, b""
    return 200, b"".join(response.streaming_content)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("attack", ["flip", "swap", "truncate", "transplant"])
def test_nextcloud_cve_2020_8133_tampered_objects_never_decrypt(
    local_storage_settings, alice_api, attack
):
    """Nextcloud CVE-2020-8133 / -8150 / -8152: block overwrite, downgrade and key replacement.
    Flip a bit, swap the two halves, cut the end, or put another file's object in place: every
    read is an error, never altered plaintext."""
    secret = b"pay Mallory 1,000,000 EUR " * 4000  # several segments
    victim = File.objects.get(public_id=upload(alice_api, "order.txt", secret).json()["id"])
    other = File.objects.get(
        public_id=upload(alice_api, "other.txt", b"x" * len(secret)).json()["id"]
    )
    raw = raw_object(victim.blob.storage_key)
    tampered = {
        "flip": raw[:-100] + bytes([raw[-100] ^ 1]) + raw[-99:],
        "swap": raw[len(raw) // 2 :] + raw[: len(raw) // 2],
        "truncate": raw[: len(raw) - 17],
        "transplant": raw_object(other.blob.storage_key),
    }[attack]
    put_raw_object(victim.blob.storage_key, tampered)
    try:
        status, body = _download(alice_api, victim.public_id)
    except CorruptContent:
        return  # the stream stopped with an error before any altered byte was sent
    assert status != 200 and secret not in body
