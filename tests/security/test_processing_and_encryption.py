"""SECURITY.md, "Encryption" (the attacker who can write to the object store) and the one
"Processing hostile files" variant that tests/workers does not re-enact (a later GIF frame).

The other processing cases run against real workers and renderers in tests/workers (see the
table in docs/security.md).
"""

import io
import subprocess
import sys
from pathlib import Path

import pytest

from files.models import File
from storage.exceptions import CorruptContent
from tests.fixtures.files import upload
from tests.storage.test_crypto import put_raw_object, raw_object


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


def _gif_with_a_huge_second_frame() -> bytes:
    """A valid 8x8 first frame, then an image descriptor of 65535x65535 pixels."""
    from PIL import Image

    out = io.BytesIO()
    Image.new("P", (8, 8)).save(out, "GIF")
    data = out.getvalue()
    assert data.endswith(b";")
    huge = b"\x2c" + b"\x00\x00\x00\x00" + b"\xff\xff\xff\xff" + b"\x00"
    lzw = b"\x02" + b"\x02\x4c\x01" + b"\x00"
    return data[:-1] + huge + lzw + b";"


def test_pillow_gif_later_frame_bomb_is_never_decoded():
    """Pillow CVE-2021-27921..27923 follow-up: the pixel check passed on the first GIF frame and
    a later, enormous frame was decoded anyway. The renderer (the real child process, with a
    1-megapixel limit) decodes the first frame only: a small thumbnail or a clean refusal."""
    from PIL import Image

    bomb = _gif_with_a_huge_second_frame()
    crafted = Image.open(io.BytesIO(bomb))
    assert crafted.size == (8, 8) and crafted.n_frames == 2
    with pytest.raises(Image.DecompressionBombError):
        crafted.seek(1)  # the attack is real: frame 2 is a 4-gigapixel bomb
    repo = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-m", "files.thumbnailer", "image", "256", "1000000"],
        input=bomb,
        cwd=repo,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert result.returncode in (0, 2), result.stderr
    if result.returncode == 0:
        length = int.from_bytes(result.stdout[:4], "big")
        assert result.stdout[4:8] == b"RIFF" and len(result.stdout) == 4 + length
