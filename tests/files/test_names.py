import pytest

from files.names import InvalidName, name_key, unique_name, validate_name
from tests.fixtures.files import make_folder, upload

RLO = "\u202e"

BAD_NAMES = [
    ("", "empty"),
    ("   ", "spaces"),
    (".", "dots"),
    ("..", "dots"),
    ("a/b", "“/”"),
    ("a\x00b", "NUL"),
    ("a\r\nSet-Cookie: x", "control"),
    ("tab\there", "control"),
    ("bell\x07", "control"),
    ("del\x7f", "control"),
    ("c1\x85", "control"),
    ("line\u2028sep", "control"),
    ("é" * 128, "255 bytes"),  # 256 bytes in UTF-8
]

FAITHFUL_NAMES = [
    "CON",
    "NUL.txt",
    "!!!",
    "...",
    "-_-",
    f"invoice{RLO}fdp.exe",
    "👩‍👩‍👧 family.jpg",  # zero-width joiners
    " leading and trailing ",
    "a&amp;b.txt",
    "back\\slash.txt",
    "C:drive.txt",
    "é" * 127 + "a",  # exactly 255 bytes
    "<img src=x onerror=alert(1)>.html",
]


@pytest.mark.parametrize(("name", "why"), BAD_NAMES)
def test_bad_names_are_refused_with_a_reason(name, why):
    with pytest.raises(InvalidName) as info:
        validate_name(name)
    assert info.value.messages[0]


@pytest.mark.parametrize("name", FAITHFUL_NAMES)
def test_unusual_names_are_kept_as_given(name):
    assert validate_name(name) == name


def test_names_are_normalised_to_nfc():
    decomposed = "cafe\u0301.txt"
    assert validate_name(decomposed) == "café.txt"


def test_name_key_ignores_case_and_normalisation():
    assert name_key("Straße.TXT") == name_key("STRASSE.txt")
    assert name_key("cafe\u0301") == name_key("CAFÉ")


def test_unique_name_numbers_before_the_extension():
    taken = {name_key("report.pdf"), name_key("report (1).pdf")}
    assert unique_name(taken, "Report.PDF") == "Report (2).PDF"
    assert unique_name(set(), "report.pdf") == "report.pdf"
    assert unique_name({".bashrc"}, ".bashrc") == ".bashrc (1)"


def test_unique_name_stays_within_255_bytes():
    long = "é" * 125 + ".txt"  # 254 bytes
    renamed = unique_name({name_key(long)}, long)
    assert len(renamed.encode()) <= 255
    assert renamed.endswith(" (1).txt")


@pytest.mark.parametrize(("name", "why"), BAD_NAMES)
def test_api_refuses_bad_folder_names_with_400(alice_api, name, why):
    response = alice_api.post("/api/v1/folders/", {"name": name}, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["detail"]


@pytest.mark.parametrize(("name", "why"), BAD_NAMES)
def test_api_refuses_bad_names_on_rename(alice, alice_api, name, why):
    folder = make_folder(alice, "ok")
    response = alice_api.patch(f"/api/v1/folders/{folder.public_id}/", {"name": name}, "json")
    assert response.status_code == 400
    folder.refresh_from_db()
    assert folder.name == "ok"


@pytest.mark.parametrize("name", FAITHFUL_NAMES)
def test_api_stores_unusual_folder_names_faithfully(alice_api, name):
    response = alice_api.post("/api/v1/folders/", {"name": name}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["name"] == name


@pytest.mark.parametrize("name", FAITHFUL_NAMES)
def test_uploads_keep_unusual_names(alice_api, name):
    response = upload(alice_api, name, b"data")
    assert response.status_code == 201, response.content
    assert response.json()["name"] == name


def _raw_upload(client, disposition: str, data: bytes = b"data"):
    boundary = "BoUnDaRy"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; {disposition}\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return client.generic(
        "POST",
        "/api/v1/files/",
        body,
        content_type=f"multipart/form-data; boundary={boundary}",
    )


@pytest.mark.parametrize(
    "encoded",
    [
        "a%0D%0ASet-Cookie%3A%20x.txt",  # CR/LF
        "nul%00.txt",
        "..",
        "a%2Fb.txt",
        "%C3%A9" * 128,  # 256 bytes
        "x%1B[31m.txt",  # ESC
    ],
)
def test_uploads_with_bad_names_answer_400_and_keep_nothing(alice_api, encoded):
    from files.models import File
    from storage.models import Blob

    response = _raw_upload(alice_api, f"filename*=UTF-8''{encoded}")
    assert response.status_code == 400, response.content
    assert response.json()["detail"]
    assert not File.objects.exists()
    assert not Blob.objects.exists()


def test_upload_name_with_path_is_refused_not_truncated(alice_api):
    response = _raw_upload(alice_api, 'filename="../../etc/passwd"')
    assert response.status_code == 400


def test_upload_of_unicode_name_by_rfc5987(alice_api):
    response = _raw_upload(alice_api, "filename*=UTF-8''%E6%97%A5%E6%9C%AC%E8%AA%9E.txt")
    assert response.status_code == 201
    assert response.json()["name"] == "日本語.txt"


def test_bad_upload_name_is_refused_before_anything_is_stored(alice_api):
    from django.db.models.signals import post_save

    from storage.models import Blob

    created = []

    def count_blob(sender, instance, **kwargs):
        created.append(instance.pk)

    post_save.connect(count_blob, sender=Blob, weak=False)
    try:
        response = _raw_upload(alice_api, "filename*=UTF-8''a%0Ab.txt", b"x" * 10_000)
    finally:
        post_save.disconnect(count_blob, sender=Blob)
    assert response.status_code == 400
    assert "control characters" in response.json()["detail"]
    assert created == []
