"""`NAME_FILE` settings: a secret kept in a file (Docker and compose secrets) is read when `NAME`
itself is unset, so SECRET_KEY, DATABASE_URL, the master keys and passwords never need to be in
the environment."""

import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from locker.env import env_list, env_str

REPO = Path(__file__).resolve().parents[1]


def test_the_file_is_read_when_the_variable_is_unset(monkeypatch, tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("from-the-file\n")
    monkeypatch.delenv("LOCKER_TEST_SECRET", raising=False)
    monkeypatch.setenv("LOCKER_TEST_SECRET_FILE", str(secret))
    assert env_str("LOCKER_TEST_SECRET", "default") == "from-the-file"


def test_an_empty_variable_counts_as_unset(monkeypatch, tmp_path):
    # compose's `NAME: ${NAME:-}` passes an empty value when .env leaves it out.
    secret = tmp_path / "secret"
    secret.write_text("from-the-file")
    monkeypatch.setenv("LOCKER_TEST_SECRET", "")
    monkeypatch.setenv("LOCKER_TEST_SECRET_FILE", str(secret))
    assert env_str("LOCKER_TEST_SECRET") == "from-the-file"


def test_without_a_file_the_variable_or_the_default_is_used(monkeypatch):
    monkeypatch.delenv("LOCKER_TEST_SECRET_FILE", raising=False)
    monkeypatch.delenv("LOCKER_TEST_SECRET", raising=False)
    assert env_str("LOCKER_TEST_SECRET", "default") == "default"
    monkeypatch.setenv("LOCKER_TEST_SECRET", "plain")
    assert env_str("LOCKER_TEST_SECRET", "default") == "plain"


def test_lists_are_read_from_files_too(monkeypatch, tmp_path):
    hosts = tmp_path / "hosts"
    hosts.write_text("files.example.org, localhost\n")
    monkeypatch.delenv("LOCKER_TEST_HOSTS", raising=False)
    monkeypatch.setenv("LOCKER_TEST_HOSTS_FILE", str(hosts))
    assert env_list("LOCKER_TEST_HOSTS") == ["files.example.org", "localhost"]


def test_both_the_variable_and_its_file_are_refused(monkeypatch, tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("from-the-file")
    monkeypatch.setenv("LOCKER_TEST_SECRET", "plain")
    monkeypatch.setenv("LOCKER_TEST_SECRET_FILE", str(secret))
    with pytest.raises(ImproperlyConfigured, match="SECRET and LOCKER_TEST_SECRET_FILE are both"):
        env_str("LOCKER_TEST_SECRET")


def test_a_missing_file_names_the_variable_and_the_path(monkeypatch, tmp_path):
    monkeypatch.delenv("LOCKER_TEST_SECRET", raising=False)
    monkeypatch.setenv("LOCKER_TEST_SECRET_FILE", str(tmp_path / "nowhere"))
    with pytest.raises(ImproperlyConfigured) as refused:
        env_str("LOCKER_TEST_SECRET")
    assert "LOCKER_TEST_SECRET_FILE" in str(refused.value)
    assert str(tmp_path / "nowhere") in str(refused.value)
    assert "No such file" in str(refused.value)


def test_settings_take_the_secret_key_database_and_master_keys_from_files(tmp_path):
    """A fresh process, as a container starts: the settings module reads the files."""
    (tmp_path / "secret_key").write_text("s" * 50 + "\n")
    database = tmp_path / "from-file.sqlite3"
    (tmp_path / "database_url").write_text(f"sqlite:///{database}\n")
    (tmp_path / "master_keys").write_text("kfile:" + "A" * 43 + "=\n")
    env = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "locker.settings",
        "LOCKER_DATA_DIR": str(tmp_path / "data"),
        "SECRET_KEY_FILE": str(tmp_path / "secret_key"),
        "DATABASE_URL_FILE": str(tmp_path / "database_url"),
        "LOCKER_MASTER_KEYS_FILE": str(tmp_path / "master_keys"),
    }
    code = (
        "from django.conf import settings as s;"
        "print(s.SECRET_KEY); print(s.DATABASES['default']['NAME']); print(s.LOCKER_MASTER_KEYS)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines() == ["s" * 50, str(database), "kfile:" + "A" * 43 + "="]
    # Nothing was generated in the data dir in their place.
    assert not (tmp_path / "data" / "secret_key").exists()
    assert not (tmp_path / "data" / "master.key").exists()
