"""The streaming multipart reader, fed the way a slow network feeds it."""

import io
import os

import pytest
from django.core.files.uploadhandler import FileUploadHandler, SkipFile

from files.multipart import Interrupted, MalformedMultipart, parse_multipart

BOUNDARY = "----WebKitFormBoundaryX7bq"
CT = f"multipart/form-data; boundary={BOUNDARY}"


class Collect(FileUploadHandler):
    """Keeps file bytes in memory: this test is about the parser, not storage."""

    chunk_size = 7  # tiny reads, so boundaries straddle every read

    def __init__(self, skip=()):
        super().__init__()
        self.skip = skip
        self.interrupted = False

    def new_file(self, field_name, file_name, *args, **kwargs):
        if field_name in self.skip:
            raise SkipFile
        self.current = [file_name, b""]

    def receive_data_chunk(self, raw_data, start):
        assert start == len(self.current[1])
        self.current[1] += bytes(raw_data)

    def file_complete(self, file_size):
        assert file_size == len(self.current[1])
        return tuple(self.current)

    def upload_interrupted(self):
        self.interrupted = True


class Trickle(io.RawIOBase):
    """A stream that answers every read with at most a few bytes."""

    def __init__(self, data: bytes, step: int = 5):
        self.data, self.pos, self.step = data, 0, step

    def read(self, size=-1):
        chunk = self.data[self.pos : self.pos + min(size, self.step)]
        self.pos += len(chunk)
        return chunk


def body(*parts, close=True, preamble=b"") -> bytes:
    out = preamble
    for headers, data in parts:
        out += f"--{BOUNDARY}\r\n".encode() + headers + b"\r\n\r\n" + data + b"\r\n"
    if close:
        out += f"--{BOUNDARY}--\r\n".encode() + b"epilogue"
    return out


def field(name, value):
    if isinstance(value, str):
        value = value.encode()
    return (f'Content-Disposition: form-data; name="{name}"'.encode(), value)


def filepart(name, filename, data, extra=b""):
    header = f'Content-Disposition: form-data; name="{name}"; filename="{filename}"'.encode()
    return (header + extra, data)


@pytest.mark.parametrize("step", [1, 3, 64, 1 << 20])
def test_fields_and_files_survive_any_read_size(step):
    payload = os.urandom(3000) + f"\r\n--{BOUNDARY[:-1]}".encode() + b"\r\n--" + os.urandom(99)
    raw = body(
        field("folder", "abc"),
        filepart("file", "a.bin", payload),
        field("sha256", "x" * 64),
        filepart("file", "empty.txt", b""),
        preamble=b"ignored preamble\r\n",
    )
    handler = Collect()
    fields, files = parse_multipart(Trickle(raw, step), CT, handler)
    assert fields.getlist("folder") == ["abc"] and fields["sha256"] == "x" * 64
    assert files.getlist("file") == [("a.bin", payload), ("empty.txt", b"")]


def test_file_names_are_kept_as_sent():
    raw = body(
        filepart("file", "../dir\\a&amp;b \u202etxt.exe", b"1"),
        (
            b'Content-Disposition: form-data; name="file"; '
            b"filename*=UTF-8''%F0%9F%91%A9%E2%80%8D%F0%9F%91%A9.txt",
            b"2",
        ),
    )
    _fields, files = parse_multipart(io.BytesIO(raw), CT, Collect())
    assert [name for name, _ in files.getlist("file")] == [
        "../dir\\a&amp;b \u202etxt.exe",
        "👩‍👩.txt",
    ]


def test_truncated_body_interrupts_the_file():
    raw = body(filepart("file", "a.bin", b"x" * 100), close=False)[:-30]
    handler = Collect()
    with pytest.raises(Interrupted):
        parse_multipart(io.BytesIO(raw), CT, handler)
    assert handler.interrupted


def test_body_without_closing_boundary_is_interrupted_even_after_a_whole_part():
    raw = body(filepart("file", "a.bin", b"x" * 100), close=False)
    with pytest.raises(Interrupted):
        parse_multipart(io.BytesIO(raw), CT, Collect())


def test_skipped_parts_are_read_past():
    raw = body(filepart("other", "x.bin", b"zzz"), filepart("file", "a.bin", b"ok"))
    _fields, files = parse_multipart(io.BytesIO(raw), CT, Collect(skip=("other",)))
    assert list(files.lists()) == [("file", [("a.bin", b"ok")])]


@pytest.mark.parametrize(
    "raw",
    [
        f"--{BOUNDARY}\r\nContent-Type: text/plain\r\n\r\nx\r\n--{BOUNDARY}--".encode(),
        f"--{BOUNDARY}\r\nno colon here\r\n\r\nx\r\n--{BOUNDARY}--".encode(),
        f"--{BOUNDARY}junk\r\nContent-Disposition: form-data; name=a\r\n\r\nx\r\n"
        f"--{BOUNDARY}--".encode(),
    ],
)
def test_malformed_parts_are_refused(raw):
    with pytest.raises(MalformedMultipart):
        parse_multipart(io.BytesIO(raw), CT, Collect())


def test_bad_boundary_is_refused():
    with pytest.raises(MalformedMultipart):
        parse_multipart(io.BytesIO(b""), "multipart/form-data", Collect())


def test_fields_are_bounded_in_memory(settings):
    from django.core.exceptions import RequestDataTooBig

    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    with pytest.raises(RequestDataTooBig):
        parse_multipart(io.BytesIO(body(field("big", b"x" * 200))), CT, Collect())


def test_number_of_files_is_bounded(settings):
    from django.core.exceptions import TooManyFilesSent

    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 2
    raw = body(*(filepart("file", f"{i}.txt", b"x") for i in range(3)))
    with pytest.raises(TooManyFilesSent):
        parse_multipart(io.BytesIO(raw), CT, Collect())
