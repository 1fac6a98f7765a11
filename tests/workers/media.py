"""Sample files for processing tests, made on the spot (no binary fixtures in the repository)."""

import io
import struct
import subprocess
import tempfile
import zlib
from pathlib import Path

from PIL import Image


def jpeg(size=(64, 32), *, orientation: int | None = None, color=(200, 30, 30)) -> bytes:
    image = Image.new("RGB", size, color)
    exif = Image.Exif()
    exif[0x010F] = "LeakyCam"  # Make
    exif[0x0131] = "secret-software"  # Software
    if orientation:
        exif[0x0112] = orientation
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes(), comment=b"private comment")
    return out.getvalue()


def png(size=(48, 48), mode="RGBA") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, (10, 120, 200, 128) if mode == "RGBA" else (10, 120, 200)).save(
        out, "PNG"
    )
    return out.getvalue()


def pdf(pages: int = 1, size=(200, 300)) -> bytes:
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument.new()
    for _ in range(pages):
        document.new_page(*size)
    out = io.BytesIO()
    document.save(out)
    document.close()
    return out.getvalue()


def mp4() -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "clip.mp4"
        subprocess.run(
            [
                "ffmpeg",
                "-hide_banner",
                "-loglevel",
                "error",
                "-f",
                "lavfi",
                "-i",
                "testsrc=size=320x240:rate=10",
                "-t",
                "1",
                "-pix_fmt",
                "yuv420p",
                "-movflags",
                "+faststart",
                str(path),
            ],
            check=True,
            timeout=60,
        )
        return path.read_bytes()


def png_bomb(width: int = 40000, height: int = 40000) -> bytes:
    """A tiny PNG that claims (and holds, compressed) 1.6 gigapixels of a 1-bit image."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack("!L", len(data)) + body + struct.pack("!L", zlib.crc32(body))

    compressor = zlib.compressobj(9)
    row = b"\0" * (1 + (width + 7) // 8)
    parts = []
    block = row * 1000
    for _ in range(height // 1000):
        parts.append(compressor.compress(block))
    parts.append(compressor.flush())
    header = struct.pack("!LLBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", b"".join(parts))
        + chunk(b"IEND", b"")
    )


def broken_jpeg() -> bytes:
    return (
        b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
        + bytes(range(256)) * 8
    )


def broken_pdf() -> bytes:
    return b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 9 0 R >>\nthis is not a pdf\n%%EOF\n"


EPS = (
    b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 100 100\n"
    b"/Times-Roman findfont 12 scalefont setfont 10 10 moveto (pwned) show\nshowpage\n"
)
