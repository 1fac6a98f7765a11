"""The thumbnail renderer, run as a child process: `python -m files.thumbnailer KIND SIZES PIXELS`.

Hostile files are decoded here, not in the worker: the parent sets hard memory and CPU limits
on this process (files.thumbnail_sandbox), feeds the plaintext on stdin and reads the results from
stdout, so a bomb or a decoder bug costs one child, never the worker.

stdout: for each size (largest first), a 4-byte big-endian length then a WebP image.
Exit 0: done; 3: this kind of file has no thumbnail; 2: the file could not be rendered
(a one-line reason on stderr).
"""

import io
import struct
import subprocess
import sys
import warnings

# Formats Pillow may even try: no EPS/PS (Ghostscript), no plugins that execute delegates.
RASTER_FORMATS = ["JPEG", "PNG", "GIF", "WEBP", "TIFF", "BMP", "AVIF"]
UNSUPPORTED = 3
FAILED = 2


class RenderError(Exception):
    pass


def _open_raster(data: bytes, largest: int):
    from PIL import Image

    image = Image.open(io.BytesIO(data), formats=RASTER_FORMATS)
    if image.format == "JPEG":
        # Reduced-size DCT decoding (1/2, 1/4, 1/8): a 24 MP photo never decodes in full.
        ratio = largest / max(image.size)
        if ratio < 1:
            image.draft("RGB", (int(image.width * ratio) + 1, int(image.height * ratio) + 1))
    image.seek(0)  # the first frame only: later GIF/TIFF frames are never decoded
    image.load()
    return image


def _render_pdf(data: bytes, largest: int):
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(data)
    try:
        if len(pdf) < 1:
            raise RenderError("The PDF has no pages.")
        page = pdf[0]
        width, height = page.get_size()
        if width <= 0 or height <= 0:
            raise RenderError("The first page of the PDF has no size.")
        scale = min(largest / max(width, height), 4.0)
        bitmap = page.render(scale=scale)
        image = bitmap.to_pil()
        image.load()
        return image.copy()
    finally:
        pdf.close()


def _render_video(data: bytes, largest: int):
    from PIL import Image

    try:
        done = subprocess.run(
            [
                "ffmpeg",
                "-hide_banner",
                "-loglevel",
                "error",
                "-i",
                "pipe:0",
                "-frames:v",
                "1",
                "-vf",
                f"scale='min({largest},iw)':-2",
                "-f",
                "image2pipe",
                "-c:v",
                "png",
                "pipe:1",
            ],
            input=data,
            capture_output=True,
            timeout=60,
            check=False,
        )
    except FileNotFoundError:
        raise RenderError("ffmpeg is not installed.") from None
    if done.returncode != 0 or not done.stdout:
        raise RenderError("ffmpeg could not read a frame of the video.")
    image = Image.open(io.BytesIO(done.stdout), formats=["PNG"])
    image.load()
    return image


def _clean_copy(image):
    """A new image holding only pixels: no EXIF, XMP, ICC or comments from the source."""
    from PIL import Image, ImageOps

    image = ImageOps.exif_transpose(image)
    mode = "RGBA" if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info else "RGB"
    image = image.convert(mode)
    return Image.frombytes(mode, image.size, image.tobytes())


def render(kind: str, data: bytes, sizes: list[int], max_pixels: int) -> list[bytes]:
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = max_pixels
    warnings.simplefilter("error", Image.DecompressionBombWarning)
    largest = max(sizes)
    if kind == "image":
        image = _open_raster(data, largest)
    elif kind == "pdf":
        image = _render_pdf(data, largest)
    elif kind == "video":
        image = _render_video(data, largest)
    else:
        raise LookupError(kind)
    image = _clean_copy(image)
    results = []
    for size in sorted(sizes, reverse=True):
        image.thumbnail((size, size), Image.Resampling.LANCZOS, reducing_gap=3.0)
        out = io.BytesIO()
        image.save(out, "WEBP", quality=80, method=4)
        results.append(out.getvalue())
    return results


def main(argv: list[str]) -> int:
    kind, sizes_arg, pixels_arg = argv
    sizes = [int(size) for size in sizes_arg.split(",")]
    data = sys.stdin.buffer.read()
    try:
        images = render(kind, data, sizes, int(pixels_arg))
    except LookupError:
        return UNSUPPORTED
    except MemoryError:
        sys.stderr.write("The file needs too much memory to render.\n")
        return FAILED
    except Exception as exc:  # noqa: BLE001 - any decoder failure is "could not render"
        message = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        sys.stderr.write(f"{type(exc).__name__}: {message}\n")
        return FAILED
    for image in images:
        sys.stdout.buffer.write(struct.pack("!L", len(image)) + image)
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
