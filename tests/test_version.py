"""The version number: in /healthz for monitoring, in the page footer for staff only."""

import re
import tomllib
from pathlib import Path

import pytest

from locker import __version__

REPO = Path(__file__).resolve().parents[1]
FOOTER = f"Locker {__version__}"


def test_the_version_is_one_number_everywhere():
    assert re.fullmatch(r"\d+\.\d+\.\d+", __version__)
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert pyproject["project"]["version"] == __version__
    assert f"## {__version__}" in (REPO / "CHANGELOG.md").read_text()


@pytest.mark.django_db
def test_healthz_names_the_version(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["version"] == __version__


@pytest.mark.django_db
def test_the_footer_shows_the_version_to_staff(client, staff):
    client.force_login(staff)
    page = client.get("/").content.decode()
    assert f'<footer class="sitefooter">{FOOTER}</footer>' in page


@pytest.mark.django_db
def test_the_footer_hides_the_version_from_users_and_strangers(client, alice):
    assert FOOTER not in client.get("/accounts/login/").content.decode()
    client.force_login(alice)
    page = client.get("/").content.decode()
    assert "Files" in page  # a real page, rendered for alice
    assert FOOTER not in page
    assert "sitefooter" not in page
