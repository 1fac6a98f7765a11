"""Screenshots of the main pages for docs/web-ui.md, taken from a live instance with sample data.

    python bench/screenshots.py [--out docs/images/web-ui] [--keep]

Starts Locker as `make run` does (bench/_server.py: gunicorn, a Celery worker, beat, SQLite, in a
fresh temporary data dir), fills it with a small sample locker (folders, photos, a PDF, a text
file, an item in the trash, a folder share), waits until the worker has processed every file
(thumbnails), then photographs each page with Playwright and Debian's Chromium
(`LOCKER_CHROMIUM`, default /usr/bin/chromium) at 1366×900 (desktop) and 390×844 (phone), in
the light and the dark theme. The PNGs are reduced to a 256-colour palette so they stay small in
the repository. Run it again after changing the pages, and commit the images.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _server import REPO, LockerServer, request  # noqa: E402

VIEWPORTS = {"desktop": (1366, 900), "phone": (390, 844)}
THEMES = ("light", "dark")
USER, PASSWORD = "sam", "sample-password-1"

# Runs in `manage.py shell` on the instance's database: the sample locker and its share link.
_SAMPLE = """
import io, json, sys
from PIL import Image, ImageDraw
from accounts.models import User
from files.selectors import folder_get_root
from files.services import (NewFileContent, content_type_detect, files_create, folder_create,
                            file_trash)
from sharing.services import share_create
from storage.writer import content_writer
from django.core.management import call_command

user = User.objects.create_user(%(user)r, "sam@example.org", %(password)r,
                                display_name="Sam Rivera", quota_bytes=2 * 1024**3)
root = folder_get_root(user)

def store(name, data, folder=None):
    writer = content_writer()
    writer.write(data)
    blob = writer.finish()
    (file,) = files_create(user=user, folder=folder, contents=[NewFileContent(
        name=name, blob=blob, size=writer.size, sha256=writer.sha256.hexdigest(),
        content_type=content_type_detect(writer.head))])
    return file

def photo(colours, size=(1200, 800)):
    image = Image.new("RGB", size, colours[0])
    draw = ImageDraw.Draw(image)
    width, height = size
    for step in range(0, height, 8):
        shade = tuple(int(a + (b - a) * step / height) for a, b in zip(colours[0], colours[1]))
        draw.rectangle([0, step, width, step + 8], fill=shade)
    draw.ellipse([width * .6, height * .15, width * .8, height * .45], fill=colours[2])
    draw.polygon([(0, height), (width * .35, height * .45), (width * .7, height)], fill=colours[3])
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()

def pdf():
    import pypdfium2 as pdfium
    document = pdfium.PdfDocument.new()
    page = document.new_page(595, 842)
    image = pdfium.PdfImage.new(document)
    image.load_jpeg(io.BytesIO(photo([(230, 235, 245), (180, 190, 220), (47, 91, 234),
                                      (90, 100, 130)], (800, 600))))
    image.set_matrix(pdfium.PdfMatrix().scale(500, 375).translate(48, 400))
    page.insert_obj(image)
    page.gen_content()
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()

holiday = folder_create(user=user, parent=root, name="Holiday 2026")
documents = folder_create(user=user, parent=root, name="Documents")
folder_create(user=user, parent=root, name="Music")
store("beach.jpg", photo([(120, 180, 230), (250, 220, 170), (255, 230, 120), (60, 120, 90)]),
      holiday)
store("sunset.jpg", photo([(60, 40, 110), (250, 140, 80), (255, 200, 90), (40, 40, 60)]),
      holiday)
store("harbour.jpg", photo([(150, 200, 240), (220, 235, 245), (250, 250, 250), (50, 80, 120)]),
      holiday)
store("packing list.txt", "Passport\\nSun cream\\nCharger\\nBooks\\n".encode(), holiday)
store("Annual report.pdf", pdf(), documents)
store("meeting notes.txt", ("Notes of the Monday meeting\\n" + "- item\\n" * 40).encode(),
      documents)
store("budget.pdf", pdf())
store("README.txt", b"Welcome to your locker.\\n")
old = store("old draft.txt", b"an old draft\\n", documents)
file_trash(file=old)
_share, token = share_create(owner=user, folder=holiday)
call_command("collectstatic", interactive=False, verbosity=0)  # WhiteNoise serves them
out = io.StringIO()
call_command("createapitoken", %(user)r, name="screenshots", stdout=out)
sys.stdout.write("SAMPLE " + json.dumps({
    "token": token, "api": out.getvalue().strip().splitlines()[-1],
    "holiday": str(holiday.public_id)}) + "\\n")
"""


def make_sample(server: LockerServer) -> dict:
    script = _SAMPLE % {"user": USER, "password": PASSWORD}
    return json.loads(server.shell(script, tag="SAMPLE", doing="making the sample locker"))


def wait_until_processed(server: LockerServer, api_token: str, seconds: float = 120) -> None:
    """Until the worker has scanned every file and made its thumbnails."""
    deadline = time.monotonic() + seconds
    headers = {"Authorization": f"Bearer {api_token}"}
    while time.monotonic() < deadline:
        status, body = request(
            server.base_url + "/api/v1/files/?search=.&page_size=100", headers=headers
        )
        files = json.loads(body)["results"] if status == 200 else []
        if files and not any(f.get("processing") for f in files):
            return
        time.sleep(0.5)
    raise RuntimeError("the worker did not process the sample files in time")


def optimise(png: bytes) -> bytes:
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    small = image.quantize(colors=256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    out = io.BytesIO()
    small.save(out, "PNG", optimize=True)
    return out.getvalue()


def snap(page, path: Path) -> Path:
    page.wait_for_load_state("networkidle")
    page.evaluate("document.fonts.ready")
    path.write_bytes(optimise(page.screenshot()))
    return path


def shoot(base: str, sample: dict, out_dir: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    sys.path.insert(0, str(REPO))
    from tests.fixtures.browser import CHROMIUM, CHROMIUM_ARGS

    written: list[Path] = []
    share = f"{base}/s/{sample['token']}"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=os.environ.get("LOCKER_CHROMIUM", CHROMIUM), args=CHROMIUM_ARGS
        )
        for device, (width, height) in VIEWPORTS.items():
            for theme in THEMES:
                context = browser.new_context(
                    viewport={"width": width, "height": height},
                    color_scheme=theme,
                    device_scale_factor=1,
                    is_mobile=device == "phone",
                    has_touch=device == "phone",
                )
                page = context.new_page()
                suffix = f"{device}-{theme}"

                page.goto(f"{base}/accounts/login/")
                page.fill("#id_username", USER)
                page.fill("#id_password", PASSWORD)
                page.click("#login-form button[type=submit]")
                page.wait_for_selector("#logout")

                page.goto(f"{base}/")
                page.wait_for_selector("#listing-body:not([aria-busy])")
                written.append(snap(page, out_dir / f"files-{suffix}.png"))

                page.goto(f"{base}/folders/{sample['holiday']}/")
                page.wait_for_selector("#listing-body:not([aria-busy])")
                page.get_by_role("link", name="sunset.jpg", exact=True).click()
                page.locator("#viewer-stage img").evaluate("img => img.decode()")
                written.append(snap(page, out_dir / f"viewer-{suffix}.png"))

                page.goto(f"{base}/trash/")
                page.wait_for_selector("#trash-body:not([aria-busy])")
                written.append(snap(page, out_dir / f"trash-{suffix}.png"))

                visitor = browser.new_context(
                    viewport={"width": width, "height": height},
                    color_scheme=theme,
                    is_mobile=device == "phone",
                    has_touch=device == "phone",
                )
                page = visitor.new_page()
                page.goto(share)
                written.append(snap(page, out_dir / f"share-{suffix}.png"))
                visitor.close()
                context.close()
        browser.close()
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=str(REPO / "docs" / "images" / "web-ui"))
    parser.add_argument("--keep", action="store_true", help="keep the temporary data dir")
    args = parser.parse_args()
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="locker-screenshots-"))
    server = LockerServer(work / "data")
    try:
        server.prepare()
        # The bench server skips compressing the assets; these pages need them served.
        sample = make_sample(server)
        server.start()
        wait_until_processed(server, sample["api"])
        written = shoot(server.base_url, sample, out_dir)
    finally:
        server.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    total = sum(path.stat().st_size for path in written)
    for path in written:
        print(
            f"{path.relative_to(REPO) if path.is_relative_to(REPO) else path}"
            f"  {path.stat().st_size // 1024} KiB"
        )
    print(f"{len(written)} screenshots, {total // 1024} KiB in all")


if __name__ == "__main__":
    main()
