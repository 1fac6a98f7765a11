import os
from urllib.parse import unquote

import pytest
from django.utils.http import http_date

from files.responses import content_disposition
from tests.fixtures.files import make_file, upload

DATA = bytes(range(256)) * 40 + b"tail"  # 10244 bytes
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000") + b"\0" * 64


def _body(response) -> bytes:
    if response.streaming:
        return b"".join(response.streaming_content)
    return response.content


@pytest.fixture
def stored(alice, alice_api, storage_backend):
    response = upload(alice_api, "data.bin", DATA)
    assert response.status_code == 201
    return f"/api/v1/files/{response.json()['id']}/content"


def test_whole_download_has_length_and_validators(alice_api, stored):
    response = alice_api.get(stored)
    assert response.status_code == 200
    assert _body(response) == DATA
    assert response["Content-Length"] == str(len(DATA))
    assert response["Accept-Ranges"] == "bytes"
    assert response["ETag"].startswith('"') and len(response["ETag"]) == 66
    assert response["Last-Modified"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"] == "sandbox"
    assert response["Content-Disposition"].startswith("attachment;")


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-9", 0, 10),
        ("bytes=1000-5999", 1000, 6000),
        ("bytes=-100", len(DATA) - 100, len(DATA)),
        ("bytes=10000-", 10000, len(DATA)),
        ("bytes=10240-99999", 10240, len(DATA)),
        ("bytes=-999999", 0, len(DATA)),
    ],
)
def test_single_ranges_answer_206(alice_api, stored, header, start, end):
    response = alice_api.get(stored, HTTP_RANGE=header)
    assert response.status_code == 206
    assert _body(response) == DATA[start:end]
    assert response["Content-Length"] == str(end - start)
    assert response["Content-Range"] == f"bytes {start}-{end - 1}/{len(DATA)}"


@pytest.mark.parametrize("header", ["bytes=10244-", "bytes=99999-100000", "bytes=-0"])
def test_unsatisfiable_range_answers_416(alice_api, stored, header):
    response = alice_api.get(stored, HTTP_RANGE=header)
    assert response.status_code == 416
    assert response["Content-Range"] == f"bytes */{len(DATA)}"


@pytest.mark.parametrize("header", ["bytes=0-1,5-6", "items=0-5", "bytes=5-2", "bytes=x-y"])
def test_multi_or_malformed_ranges_get_the_whole_content(alice_api, stored, header):
    response = alice_api.get(stored, HTTP_RANGE=header)
    assert response.status_code == 200
    assert _body(response) == DATA


def test_if_none_match_answers_304(alice_api, stored):
    etag = alice_api.get(stored)["ETag"]
    response = alice_api.get(stored, HTTP_IF_NONE_MATCH=etag)
    assert response.status_code == 304
    assert response.content == b""
    assert alice_api.get(stored, HTTP_IF_NONE_MATCH='"other"').status_code == 200


def test_if_modified_since_answers_304(alice_api, stored):
    last_modified = alice_api.get(stored)["Last-Modified"]
    assert alice_api.get(stored, HTTP_IF_MODIFIED_SINCE=last_modified).status_code == 304
    assert alice_api.get(stored, HTTP_IF_MODIFIED_SINCE=http_date(0)).status_code == 200


def test_if_range_serves_the_range_only_when_it_matches(alice_api, stored):
    etag = alice_api.get(stored)["ETag"]
    same = alice_api.get(stored, HTTP_RANGE="bytes=0-3", HTTP_IF_RANGE=etag)
    assert same.status_code == 206
    changed = alice_api.get(stored, HTTP_RANGE="bytes=0-3", HTTP_IF_RANGE='"stale"')
    assert changed.status_code == 200
    assert _body(changed) == DATA


def test_head_has_the_headers_and_no_body(alice_api, stored):
    response = alice_api.head(stored)
    assert response.status_code == 200
    assert response["Content-Length"] == str(len(DATA))
    assert response.content == b""


def test_content_disposition_of_a_hostile_name_cannot_inject_headers():
    value = content_disposition("attachment", 'a"\r\nSet-Cookie: x.txt')
    assert "\r" not in value and "\n" not in value
    fallback = value.split('filename="', 1)[1].split('"', 1)[0]
    assert '"' not in fallback and "\\" not in fallback
    assert fallback.endswith(".txt")
    encoded = value.split("filename*=UTF-8''", 1)[1]
    assert unquote(encoded) == 'a"\r\nSet-Cookie: x.txt'


def test_content_disposition_round_trips_unicode(alice, alice_api):
    name = "Ünïcødé 日本語 🎉 ‮txt.exe"
    file = make_file(alice, name, b"x")
    response = alice_api.get(f"/api/v1/files/{file.public_id}/content")
    header = response["Content-Disposition"]
    assert header.isascii()
    assert unquote(header.split("filename*=UTF-8''", 1)[1]) == name
    assert 'filename="' in header and header.split('filename="')[1].split('"')[0].endswith(".exe")


def test_hostile_stored_name_is_served_safely(alice, alice_api):
    file = make_file(alice, 'quote"and;semicolon%22.txt', b"x")
    response = alice_api.get(f"/api/v1/files/{file.public_id}/content")
    assert response.status_code == 200
    header = response["Content-Disposition"]
    assert header.count('"') == 2


@pytest.mark.parametrize(
    ("data", "inline", "content_type"),
    [
        (PNG, True, "image/png"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", True, "application/pdf"),
        (b"plain words\n", True, "text/plain; charset=utf-8"),
        (b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', False, None),
        (b"<html><script>alert(1)</script></html>", False, None),
        (b"<?xml version='1.0'?><x/>", False, None),
        (os.urandom(64), False, None),
    ],
)
def test_inline_only_for_the_allow_list(alice_api, data, inline, content_type):
    created = upload(alice_api, "thing", data).json()
    response = alice_api.get(f"/api/v1/files/{created['id']}/content?inline=1")
    assert response.status_code == 200
    disposition = response["Content-Disposition"]
    assert disposition.startswith("inline;" if inline else "attachment;")
    # Inline content may be framed by this site only (the in-page viewer's PDF <iframe>).
    if inline:
        assert response["Content-Security-Policy"] == "sandbox; frame-ancestors 'self'"
        assert response["X-Frame-Options"] == "SAMEORIGIN"
    else:
        assert response["Content-Security-Policy"] == "sandbox"
        assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    if inline:
        assert response["Content-Type"] == content_type
    else:
        assert response["Content-Type"] == "application/octet-stream"
    # The 304 of a revalidation says the same (browsers merge its headers into their copy).
    again = alice_api.get(
        f"/api/v1/files/{created['id']}/content?inline=1",
        HTTP_IF_NONE_MATCH=response["ETag"],
    )
    assert again.status_code == 304
    for header in ("Content-Security-Policy", "X-Frame-Options"):
        assert again[header] == response[header], header


def test_empty_file_downloads_and_refuses_ranges(alice, alice_api):
    file = make_file(alice, "empty", b"")
    url = f"/api/v1/files/{file.public_id}/content"
    response = alice_api.get(url)
    assert response.status_code == 200 and _body(response) == b""
    assert response["Content-Length"] == "0"
    assert alice_api.get(url, HTTP_RANGE="bytes=0-").status_code == 416


def test_damaged_stored_content_answers_a_json_error(alice, alice_api, local_storage_settings):
    file = make_file(alice, "fragile.bin", b"x" * 1000)
    from storage.backends import get_blobstore

    get_blobstore().delete(file.blob.storage_key)
    response = alice_api.get(f"/api/v1/files/{file.public_id}/content")
    assert response.status_code == 500
    assert "damaged" in response.json()["detail"]
    assert response.json()["code"] == "content_damaged"
