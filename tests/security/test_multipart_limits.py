"""An upload-link holder sends multipart bodies built to cost the server CPU or memory.

The reported attack: a ~0.6 MB `Content-Disposition` (`filename="h"` then `;a=b` 150,000
times) fitted in the reader's first 1 MiB read, so the 16 KiB header limit was never checked,
and parsing its parameters took seconds of CPU per request. Every limit must hold whatever the
buffering, and the parameter parser must only ever be handed bounded input.
"""

import io
import wsgiref.util

import pytest
from django.core.exceptions import TooManyFieldsSent

import files.multipart
from files.models import File
from files.multipart import (
    MAX_HEADER_BLOCK,
    MAX_HEADER_LINES,
    READ_SIZE,
    MalformedMultipart,
    parse_multipart,
)
from files.selectors import folder_get_root
from locker.headers import MAX_PARAMETERS, HeaderError, parse_header_parameters
from sharing.upload_links import upload_link_create
from storage.models import Blob
from tests.files.test_multipart import Collect

pytestmark = pytest.mark.django_db

BOUNDARY = "b0undary"
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"
HUGE_DISPOSITION = b'form-data; name="file"; filename="h"' + b";a=b" * 150_000


def part(disposition: bytes, data: bytes, extra_headers: bytes = b"") -> bytes:
    return (
        f"--{BOUNDARY}\r\n".encode()
        + b"Content-Disposition: "
        + disposition
        + b"\r\n"
        + extra_headers
        + b"\r\n"
        + data
        + b"\r\n"
    )


def closing() -> bytes:
    return f"--{BOUNDARY}--\r\n".encode()


def file_disposition(filename: str) -> bytes:
    return f'form-data; name="file"; filename="{filename}"'.encode()


@pytest.fixture
def upload_url(alice):
    _link, token = upload_link_create(owner=alice, folder=folder_get_root(alice))
    return f"/r/{token}/upload"


@pytest.fixture
def parameter_inputs(monkeypatch):
    """The length of every header value the reader hands its parameter parser (which it still
    calls: this only records)."""
    seen: list[int] = []
    real = files.multipart.parse_header_parameters

    def recording(value, *args, **kwargs):
        seen.append(len(value))
        return real(value, *args, **kwargs)

    monkeypatch.setattr(files.multipart, "parse_header_parameters", recording)
    return seen


def test_a_huge_part_header_inside_the_first_read_answers_400_before_its_parameters_are_parsed(
    client, upload_url, parameter_inputs
):
    body = part(HUGE_DISPOSITION, b"payload") + closing()
    assert len(body) < READ_SIZE  # the whole header is in the reader's first buffer
    response = client.post(upload_url, data=body, content_type=CONTENT_TYPE)
    assert response.status_code == 400, response.content
    assert "too long" in response.json()["detail"]
    # Only the request's Content-Type reached the parameter parser, never the part header.
    assert parameter_inputs and max(parameter_inputs) <= MAX_HEADER_BLOCK
    assert not File.objects.exists() and not Blob.objects.exists()


def test_a_long_part_header_that_starts_at_the_end_of_one_read_is_refused(
    client, upload_url, parameter_inputs
):
    # A first file fills the first read up to 1,000 bytes before its end; the next part's
    # 100 KB header starts there, so its end only arrives with the second read.
    first_header = part(file_disposition("first.bin"), b"")[: -len(b"\r\n")]
    filler = READ_SIZE - 1_000 - len(first_header) - len(b"\r\n")
    first = part(file_disposition("first.bin"), b"x" * filler)
    assert len(first) == READ_SIZE - 1_000
    second = part(file_disposition("h") + b";a=b" * 25_000, b"payload")
    response = client.post(upload_url, data=first + second + closing(), content_type=CONTENT_TYPE)
    assert response.status_code == 400, response.content
    assert "too long" in response.json()["detail"]
    assert max(parameter_inputs) <= MAX_HEADER_BLOCK
    assert not File.objects.exists() and not Blob.objects.exists()


def _padded_header_block(size: int) -> bytes:
    """Part headers whose block (from the boundary line's CRLF to the blank line) is `size`."""
    disposition = b'Content-Disposition: form-data; name="file"; filename="a.txt"\r\n'
    lines = [b"\r\n" + disposition[:-2]]
    room = size - len(lines[0])
    while room > 0:
        line_size = min(room, 2_000)
        line = b"\r\nX-Pad: " + b"p" * (line_size - len(b"\r\nX-Pad: "))
        if len(line) != line_size:  # too small for a line of its own: widen the last one
            lines[-1] += b"p" * line_size
        else:
            lines.append(line)
        room -= line_size
    block = b"".join(lines)
    assert len(block) == size
    return block


@pytest.mark.parametrize("read_size", [7, 4096, 64 * 1024, READ_SIZE])
def test_the_header_block_limit_holds_whatever_the_read_size(read_size):
    def parse(block_size: int):
        block = _padded_header_block(block_size)
        raw = f"--{BOUNDARY}".encode() + block + b"\r\n\r\nok\r\n" + closing()
        handler = Collect()
        handler.chunk_size = read_size
        return parse_multipart(io.BytesIO(raw), CONTENT_TYPE, handler)

    _fields, files_ = parse(MAX_HEADER_BLOCK)
    assert files_.getlist("file") == [("a.txt", b"ok")]
    with pytest.raises(MalformedMultipart, match="too long"):
        parse(MAX_HEADER_BLOCK + 1)


def test_too_many_part_header_lines_are_refused():
    lines = b"".join(b"X-Line: %d\r\n" % i for i in range(MAX_HEADER_LINES))
    raw = part(file_disposition("a.txt"), b"ok", extra_headers=lines) + closing()
    with pytest.raises(MalformedMultipart, match="too many header lines"):
        parse_multipart(io.BytesIO(raw), CONTENT_TYPE, Collect())


def test_too_many_or_too_long_header_parameters_are_refused():
    many = part(file_disposition("a.txt") + b";a=b" * MAX_PARAMETERS, b"ok") + closing()
    with pytest.raises(MalformedMultipart, match="too many parameters"):
        parse_multipart(io.BytesIO(many), CONTENT_TYPE, Collect())
    long = part(file_disposition("a.txt") + b'; x="' + b"y" * 5_000 + b'"', b"ok") + closing()
    with pytest.raises(MalformedMultipart, match="parameter is too long"):
        parse_multipart(io.BytesIO(long), CONTENT_TYPE, Collect())


def test_an_unknown_charset_in_a_file_name_is_a_400_not_a_500(client, upload_url):
    disposition = b"form-data; name=\"file\"; filename*=no-such-charset''a.txt"
    response = client.post(
        upload_url, data=part(disposition, b"ok") + closing(), content_type=CONTENT_TYPE
    )
    assert response.status_code == 400, response.content
    assert "character set" in response.json()["detail"]


def test_the_request_content_type_is_read_with_the_bounded_parser():
    many = CONTENT_TYPE + ";a=b" * (MAX_PARAMETERS + 1)
    with pytest.raises(MalformedMultipart, match="Content-Type"):
        parse_multipart(io.BytesIO(part(file_disposition("a"), b"") + closing()), many, Collect())


def test_parameter_parser_refuses_input_beyond_its_bounds_before_parsing():
    with pytest.raises(HeaderError, match="too long"):
        parse_header_parameters("a" * 101, max_length=100)
    with pytest.raises(HeaderError, match="too many parameters"):
        parse_header_parameters("a" + ";" * (MAX_PARAMETERS + 1))
    with pytest.raises(HeaderError, match="not closed"):
        parse_header_parameters('form-data; name="file; filename=a')


def test_repeated_field_names_count_as_many_fields(settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 10
    raw = b"".join(part(b'form-data; name="a"', b"") for _ in range(11)) + closing()
    with pytest.raises(TooManyFieldsSent):
        parse_multipart(io.BytesIO(raw), CONTENT_TYPE, Collect())


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("CONTENT_TYPE", CONTENT_TYPE + ";a=b" * 300),
        ("HTTP_ACCEPT", "application/json" + ";q=1" * 300),
    ],
)
def test_an_overlong_content_type_or_accept_is_refused_before_django_parses_it(
    monkeypatch, header, value
):
    """Django and DRF parse these with the standard library's e-mail parser (quadratic): the
    WSGI entry point gunicorn serves refuses long ones first."""
    import django.http.request

    from locker.wsgi import application

    parsed: list[str] = []
    real = django.http.request.parse_header_parameters
    monkeypatch.setattr(
        django.http.request,
        "parse_header_parameters",
        lambda line, *a, **kw: parsed.append(line) or real(line, *a, **kw),
    )
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/api/v1/files/", header: value}
    wsgiref.util.setup_testing_defaults(environ)
    answered = []
    body = b"".join(application(environ, lambda status, headers: answered.append(status)))
    assert answered == ["400 Bad Request"]
    assert b"too long" in body
    assert all(len(line) <= 1024 for line in parsed)
