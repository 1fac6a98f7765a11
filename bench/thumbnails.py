"""Time and peak memory of the thumbnail renderer for a 24 MP JPEG and a 100-page PDF.

    python bench/thumbnails.py [--repeat 3]

Runs the renderer exactly as a worker does (`python -m files.thumbnailer`, content on stdin,
both sizes out) and reads the child's peak RSS from wait4(). Bars: <= 1 s and <= 200 MiB.
The sample files are generated on the spot: a photo-like 6000x4000 JPEG (gradients and noise,
quality 90) and a 100-page PDF whose pages each carry an image.
"""

import argparse
import io
import os
import subprocess
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[1]
SIZES = "256,1024"
MAX_PIXELS = "100000000"
BAR_SECONDS = 1.0
BAR_MIB = 200


def photo_jpeg() -> bytes:
    from PIL import Image

    width, height = 6000, 4000
    red = Image.linear_gradient("L").resize((width, height))
    green = Image.radial_gradient("L").resize((width, height))
    noise = Image.effect_noise((width, height), 40)
    image = Image.merge("RGB", (red, green, noise))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def hundred_page_pdf() -> bytes:
    import pypdfium2 as pdfium
    from PIL import Image

    picture = io.BytesIO()
    Image.radial_gradient("L").resize((800, 600)).convert("RGB").save(picture, "JPEG")
    document = pdfium.PdfDocument.new()
    for _ in range(100):
        page = document.new_page(595, 842)  # A4 in points
        image = pdfium.PdfImage.new(document)
        image.load_jpeg(io.BytesIO(picture.getvalue()))
        image.set_matrix(pdfium.PdfMatrix().scale(500, 375).translate(48, 400))
        page.insert_obj(image)
        page.gen_content()
    out = io.BytesIO()
    document.save(out)
    document.close()
    return out.getvalue()


def run_once(kind: str, data: bytes) -> tuple[float, float, int]:
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "files.thumbnailer", kind, SIZES, MAX_PIXELS],
        cwd=BASE_DIR,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = proc.communicate(data)
    elapsed = time.perf_counter() - started
    # communicate() reaped the child; its rusage is in RUSAGE_CHILDREN as a running maximum, so
    # each measurement runs in a fresh helper process (see main()).
    import resource

    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if proc.returncode != 0:
        raise SystemExit(f"renderer failed ({proc.returncode}): {err.decode(errors='replace')}")
    return elapsed, peak_kib / 1024, len(out)


def startup_seconds() -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import PIL.Image, pypdfium2"], cwd=BASE_DIR, check=True)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--one", choices=["jpeg", "pdf"], help=argparse.SUPPRESS)
    parser.add_argument("--input", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:  # a measurement in a fresh process, so RUSAGE_CHILDREN holds only this child
        kind = "image" if args.one == "jpeg" else "pdf"
        elapsed, peak, out = run_once(kind, Path(args.input).read_bytes())
        print(f"{elapsed:.4f} {peak:.1f} {out}")
        return 0

    workdir = Path(os.environ.get("TMPDIR", "/tmp")) / f"locker-bench-thumbs-{os.getpid()}"
    workdir.mkdir(parents=True, exist_ok=True)
    samples = {"jpeg": photo_jpeg(), "pdf": hundred_page_pdf()}
    print(f"Python + Pillow + pypdfium2 start-up alone: {startup_seconds():.2f} s")
    failed = False
    for name, data in samples.items():
        path = workdir / f"sample.{name}"
        path.write_bytes(data)
        label = "24 MP JPEG (6000x4000)" if name == "jpeg" else "100-page PDF"
        runs = []
        for _ in range(args.repeat):
            done = subprocess.run(
                [sys.executable, __file__, "--one", name, "--input", str(path)],
                capture_output=True,
                text=True,
                check=True,
            )
            elapsed, peak, out = done.stdout.split()
            runs.append((float(elapsed), float(peak), int(out)))
        worst_time = max(run[0] for run in runs)
        worst_peak = max(run[1] for run in runs)
        ok = worst_time <= BAR_SECONDS and worst_peak <= BAR_MIB
        failed |= not ok
        print(
            f"{label}: input {len(data) / 2**20:.1f} MiB; "
            f"time {', '.join(f'{run[0]:.2f}' for run in runs)} s (worst {worst_time:.2f} s, "
            f"bar {BAR_SECONDS:.0f} s); peak RSS {worst_peak:.0f} MiB (bar {BAR_MIB} MiB); "
            f"thumbnails {runs[0][2] / 1024:.0f} KiB; {'OK' if ok else 'OVER THE BAR'}"
        )
        path.unlink()
    workdir.rmdir()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
