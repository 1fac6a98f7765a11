"""Thumbnails made by the real renderer (a limited child process), served by the API."""

import io

import pytest
from PIL import Image

from files import processing
from files.models import File, Thumbnail
from tests.fixtures.files import make_file
from tests.workers import media

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_scanner(settings):
    settings.LOCKER_SCANNER = "none"
    settings.LOCKER_THUMBNAILS = True


def _process(file: File) -> File:
    processing.file_process(file_id=file.pk)
    file.refresh_from_db()
    return file


def _thumbnail(api, file: File, size: int = 256) -> Image.Image:
    response = api.get(f"/api/v1/files/{file.public_id}/thumbnail?size={size}")
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "image/webp"
    assert response["X-Content-Type-Options"] == "nosniff"
    image = Image.open(io.BytesIO(b"".join(response.streaming_content)))
    image.load()
    return image


def test_jpeg_thumbnail_applies_exif_orientation_and_drops_metadata(alice, alice_api):
    # 64x32 stored sideways with "rotate 90" in EXIF: the thumbnail is upright, 32 wide, 64 high.
    file = _process(make_file(alice, "photo.jpg", media.jpeg((64, 32), orientation=6)))
    assert file.thumbnail_state == "ready"
    image = _thumbnail(alice_api, file)
    assert image.format == "WEBP"
    assert image.size == (32, 64)
    assert not image.getexif()
    assert "exif" not in image.info and "icc_profile" not in image.info


def test_big_jpeg_gets_both_sizes_within_the_box(alice, alice_api):
    file = _process(make_file(alice, "big.jpg", media.jpeg((3000, 2000))))
    assert max(_thumbnail(alice_api, file, 256).size) == 256
    assert _thumbnail(alice_api, file, 1024).size == (1024, 683)
    assert Thumbnail.objects.filter(file=file).count() == 2


def test_png_with_transparency_gets_a_thumbnail(alice, alice_api):
    file = _process(make_file(alice, "logo.png", media.png()))
    assert file.thumbnail_state == "ready"
    assert _thumbnail(alice_api, file).mode in ("RGBA", "RGB")


def test_pdf_thumbnail_is_its_first_page(alice, alice_api):
    file = _process(make_file(alice, "doc.pdf", media.pdf(pages=3, size=(200, 300))))
    assert file.thumbnail_state == "ready"
    width, height = _thumbnail(alice_api, file, 256).size
    assert height == 256 and 165 <= width <= 175


def test_video_thumbnail_is_a_frame(alice, alice_api):
    file = _process(make_file(alice, "clip.mp4", media.mp4()))
    assert file.content_type.startswith("video/")
    assert file.thumbnail_state == "ready", file.thumbnail_reason
    assert _thumbnail(alice_api, file).size == (256, 192)


def test_thumbnails_are_stored_encrypted(alice):
    from storage.backends import get_blobstore

    file = _process(make_file(alice, "logo.png", media.png()))
    thumb = Thumbnail.objects.select_related("blob").get(file=file, size=256)
    with get_blobstore().open_range(thumb.blob.storage_key, 0, thumb.blob.size) as reader:
        stored = reader.read_exact(64)
    assert b"WEBP" not in stored and b"RIFF" not in stored


def test_decompression_bomb_is_a_thumbnail_error_not_a_crash(alice, alice_api):
    file = _process(make_file(alice, "bomb.png", media.png_bomb()))
    assert file.state == "ready"  # the file itself is fine to download
    assert file.thumbnail_state == "error"
    assert "DecompressionBomb" in file.thumbnail_reason
    response = alice_api.get(f"/api/v1/files/{file.public_id}/thumbnail")
    assert response.status_code == 404
    assert response.json()["detail"]


@pytest.mark.parametrize(
    ("name", "data"),
    [("broken.jpg", media.broken_jpeg()), ("broken.pdf", media.broken_pdf())],
)
def test_malformed_files_record_a_thumbnail_error(alice, name, data):
    file = _process(make_file(alice, name, data))
    assert file.thumbnail_state == "error"
    assert file.thumbnail_reason


def test_eps_named_png_never_reaches_an_interpreter(alice):
    file = _process(make_file(alice, "innocent.png", media.EPS))
    assert file.thumbnail_state == "none"
    assert not Thumbnail.objects.filter(file=file).exists()


def test_jpeg_magic_in_front_of_eps_is_refused_by_the_format_allow_list(alice):
    data = b"\xff\xd8\xff\xe0" + media.EPS
    file = _process(make_file(alice, "tricky.jpg", data))
    assert file.thumbnail_state == "error"


def test_renderer_over_its_memory_limit_is_an_error(alice, settings):
    settings.LOCKER_THUMBNAIL_MEMORY = 48 * 1024 * 1024
    file = _process(make_file(alice, "big.jpg", media.jpeg((2000, 2000))))
    assert file.thumbnail_state == "error"


def test_text_files_get_no_thumbnail(alice, alice_api):
    file = _process(make_file(alice, "notes.txt", b"hello\n"))
    assert file.thumbnail_state == "none"
    body = alice_api.get(f"/api/v1/files/{file.public_id}/").json()
    assert body["thumbnail"] is None and body["processing"] is False


def test_thumbnail_url_appears_in_the_file_json(alice, alice_api):
    file = _process(make_file(alice, "logo.png", media.png()))
    body = alice_api.get(f"/api/v1/files/{file.public_id}/").json()
    assert body["thumbnail"] == f"/api/v1/files/{file.public_id}/thumbnail/"


def test_foreign_thumbnail_answers_404(alice, bob_api):
    file = _process(make_file(alice, "logo.png", media.png()))
    assert bob_api.get(f"/api/v1/files/{file.public_id}/thumbnail").status_code == 404


def test_unknown_size_answers_400(alice, alice_api):
    file = _process(make_file(alice, "logo.png", media.png()))
    response = alice_api.get(f"/api/v1/files/{file.public_id}/thumbnail?size=4096")
    assert response.status_code == 400
    assert "size" in response.json()["errors"]


def test_second_run_adds_no_thumbnails(alice):
    file = _process(make_file(alice, "logo.png", media.png()))
    File.objects.filter(pk=file.pk).update(thumbnail_state="")
    _process(file)
    assert Thumbnail.objects.filter(file=file).count() == 2


def test_purging_a_file_deletes_its_thumbnail_blobs(alice, django_capture_on_commit_callbacks):
    from files.services import file_trash, trash_empty
    from storage.models import Blob

    file = _process(make_file(alice, "logo.png", media.png()))
    thumb_blobs = list(Thumbnail.objects.filter(file=file).values_list("blob_id", flat=True))
    file_trash(file=file)
    with django_capture_on_commit_callbacks(execute=True):
        trash_empty(user=alice)
    assert not Blob.objects.filter(pk__in=thumb_blobs).exists()


@pytest.mark.parametrize("fmt", ["GIF", "WEBP", "TIFF", "BMP", "AVIF"])
def test_other_raster_formats_get_thumbnails(alice, alice_api, fmt):
    out = io.BytesIO()
    Image.new("RGB", (300, 150), (0, 128, 255)).save(out, fmt)
    file = _process(make_file(alice, f"picture.{fmt.lower()}", out.getvalue()))
    assert file.thumbnail_state == "ready", (file.content_type, file.thumbnail_reason)
    assert _thumbnail(alice_api, file).size == (256, 128)
