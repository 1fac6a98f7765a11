"""Speaking tus to Locker through Django's test client (the real clients are in other tests)."""

import base64
import hashlib

from files.models import File
from storage.reader import iter_content

TUS = {"HTTP_TUS_RESUMABLE": "1.0.0"}
OCTETS = "application/offset+octet-stream"


def metadata(**values) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


def create(client, length: int, *, base="/api/v1/tus/", name="big.bin", body=b"", **extra):
    headers = {
        **TUS,
        "HTTP_UPLOAD_LENGTH": str(length),
        "HTTP_UPLOAD_METADATA": metadata(filename=name, **extra.pop("meta", {})),
        **extra,
    }
    if body:
        return client.generic("POST", base, data=body, content_type=OCTETS, **headers)
    return client.generic("POST", base, **headers)


def path_of(response) -> str:
    location = response["Location"]
    return location[location.index("/", len("http://")) :]


def patch(client, url: str, offset: int, data: bytes, **extra):
    return client.generic(
        "PATCH", url, data=data, content_type=OCTETS, HTTP_UPLOAD_OFFSET=str(offset), **TUS, **extra
    )


def head(client, url: str, **extra):
    return client.head(url, **{**TUS, **extra})


def checksum(name: str, data: bytes) -> str:
    return f"{name} {base64.b64encode(hashlib.new(name, data).digest()).decode()}"


def stored_bytes(file: File) -> bytes:
    file.refresh_from_db()
    return b"".join(iter_content(file.blob))
