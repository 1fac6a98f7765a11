"""storage.backends.local: the local store's windowed reader and its writer thread."""

import os
import threading

import pytest

from storage.backends import get_blobstore, local
from storage.backends.local import WindowedReader, WindowedWriter


def writer_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("file-write")]


def test_writer_keeps_the_order_of_bytes_views_and_buffers(tmp_path):
    chunks = [os.urandom(n) for n in (1, 70_000, 3, 1 << 20, 5)]
    shapes = [chunks[0], bytearray(chunks[1]), chunks[2], memoryview(chunks[3]), chunks[4]]
    path = tmp_path / "out"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    writer = WindowedWriter(fd)
    for shape in shapes * 3:
        writer.write(shape)
    writer.drain()
    assert writer.buffered == 0
    writer.close()
    os.close(fd)
    assert path.read_bytes() == b"".join(chunks) * 3
    assert writer_threads() == []


def test_a_reused_buffer_is_written_before_the_caller_changes_it(tmp_path):
    path = tmp_path / "out"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    writer = WindowedWriter(fd)
    buffer = bytearray(100_000)
    for fill in (b"a", b"b", b"c"):
        writer.write(os.urandom(10))  # something in flight before the buffer
        buffer[:] = fill * len(buffer)
        writer.write(buffer)
    writer.drain()
    writer.close()
    os.close(fd)
    data = path.read_bytes()
    assert [data[i * 100_010 + 10 : (i + 1) * 100_010] for i in range(3)] == [
        b"a" * 100_000,
        b"b" * 100_000,
        b"c" * 100_000,
    ]


def test_a_failed_write_surfaces_on_drain(tmp_path):
    path = tmp_path / "read-only"
    path.write_bytes(b"")
    fd = os.open(path, os.O_RDONLY)
    writer = WindowedWriter(fd)
    writer.write(b"x" * 1000)  # written in the helper thread, which fails
    with pytest.raises(OSError):
        writer.drain()
    writer.close()
    os.close(fd)
    assert writer_threads() == []


def test_close_drops_what_is_not_written_and_stops_the_thread(tmp_path):
    fd = os.open(tmp_path / "out", os.O_WRONLY | os.O_CREAT)
    writer = WindowedWriter(fd)
    for _ in range(WindowedWriter.MAX_IN_FLIGHT):
        writer.write(os.urandom(1 << 20))
    assert writer.buffered <= WindowedWriter.MAX_IN_FLIGHT << 20
    writer.close()
    writer.close()
    os.close(fd)
    assert writer_threads() == []
    assert writer.buffered == 0


@pytest.mark.parametrize(("offset", "length"), [(0, 300_000), (12_345, 200_000), (299_999, 1)])
def test_reader_returns_the_range_across_windows(tmp_path, monkeypatch, offset, length):
    monkeypatch.setattr(local, "WINDOW", 64 * 1024)  # many windows in a small file
    data = os.urandom(300_000)
    path = tmp_path / "in"
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY)
    try:
        reader = WindowedReader(fd, offset, length)
        got = bytearray()
        while chunk := reader.read(7_777):
            got += chunk
    finally:
        os.close(fd)
    assert got == data[offset : offset + length]


def test_reader_stops_at_the_end_of_a_file_shorter_than_the_range(tmp_path):
    path = tmp_path / "in"
    path.write_bytes(b"0123456789")
    fd = os.open(path, os.O_RDONLY)
    try:
        reader = WindowedReader(fd, 4, 100)
        assert reader.read(100) == b"456789"
        assert reader.read(100) == b""
    finally:
        os.close(fd)


def test_aborting_a_local_object_with_writes_in_flight_leaves_no_file(local_storage_settings):
    store = get_blobstore()
    key = os.urandom(16).hex()
    writer = store.writer(key)
    for _ in range(8):
        writer.write(os.urandom(1 << 20))
    writer.abort()
    leftovers = [name for _root, _dirs, files in os.walk(local_storage_settings) for name in files]
    assert leftovers == []
    assert writer_threads() == []
