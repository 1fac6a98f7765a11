import pytest
from django.conf import settings

from locker.env import parse_duration, parse_size


@pytest.mark.parametrize(
    ("raw", "expected"), [("0", 0), ("1024", 1024), ("10G", 10 * 1024**3), ("512M", 512 * 1024**2)]
)
def test_sizes_parse_with_binary_units(raw, expected):
    assert parse_size(raw) == expected


@pytest.mark.parametrize("raw", ["ten", "10X", "-1", ""])
def test_bad_sizes_are_refused(raw):
    with pytest.raises(ValueError):
        parse_size(raw)


def test_durations_parse():
    assert parse_duration("30m") == 1800
    assert parse_duration("7d") == 7 * 86400
    assert parse_duration(90) == 90


def test_generated_secret_key_file_is_private():
    path = settings.DATA_DIR / "secret_key"
    assert path.exists()
    assert path.stat().st_mode & 0o777 == 0o600


def test_unknown_api_path_answers_json_404(client):
    response = client.get("/api/v1/no-such-thing/")
    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "detail": "Not found."}
