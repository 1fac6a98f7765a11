"""A start that explains itself (issue 15): a wrong setting or an unreachable database stops
`manage.py` and `python -m locker.run` with one line naming the variable, the value and what is
expected; settings may live in locker.env; the test suite never touches the operator's instance.

Each case runs the real command in a subprocess with the embedded defaults in a fresh data dir
(tests/fixtures/launcher.py), plus the one setting under test.
"""

import os
import re
import socket
import subprocess
from pathlib import Path

import pytest
from django.conf import settings

from locker import envfile
from tests.fixtures.launcher import REPO, default_env, free_port, run_quietly


@pytest.fixture
def env(tmp_path):
    return default_env(tmp_path / "data", free_port())


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def assert_explained(done, *words: str) -> None:
    """Exit status 1, one line on standard error naming each of `words`, no traceback."""
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "Traceback" not in output
    assert len(lines(done.stderr)) == 1, done.stderr
    assert done.stderr.startswith("Locker: ")
    for word in words:
        assert word in done.stderr, (word, done.stderr)


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("LOCKER_STORAGE", "s4", "'local' or 's3'"),
        ("LOCKER_DEFAULT_QUOTA", "abc", "a size such as 512M"),
        ("ALLOWED_HOSTS", "*", "host names"),
        ("PORT", "abc", "a whole number"),
        ("PORT", "70000", "a port number from 1 to 65535"),
        ("LOCKER_SCANNER", "clamd", "'none', 'clamav' or 'command'"),
        ("DEBUG", "maybe", "true or false"),
    ],
)
def test_a_wrong_setting_stops_manage_py_with_one_line_naming_it(env, name, value, expected):
    env[name] = value
    assert_explained(run_quietly(["manage.py", "check"], env), name, repr(value), expected)


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("PORT", "abc", "a whole number"),
        ("LOCKER_STORAGE", "s4", "'local' or 's3'"),  # reported by the ensureadmin step
        ("ALLOWED_HOSTS", "*", "host names"),
    ],
)
def test_a_wrong_setting_stops_the_launcher_with_one_line_and_starts_nothing(
    env, name, value, expected
):
    env[name] = value
    done = run_quietly(["-m", "locker.run"], env)
    assert_explained(done, name, repr(value), expected)
    assert "Locker is running" not in done.stdout


def test_any_host_is_accepted_when_the_operator_says_a_proxy_checks_it(env):
    env.update(ALLOWED_HOSTS="*", LOCKER_ALLOW_ANY_HOST="true")
    done = run_quietly(["manage.py", "check"], env)
    assert done.returncode == 0, done.stderr


def test_an_unreachable_database_is_one_line_naming_its_host_and_port(env):
    port = free_port()  # bound, then released: nothing listens there
    env["DATABASE_URL"] = f"postgres://locker:secret-password@127.0.0.1:{port}/locker"
    for command in (["manage.py", "migrate"], ["-m", "locker.run"]):
        done = run_quietly(command, env)
        assert_explained(done, "DATABASE_URL", f"127.0.0.1:{port}", "Connection refused")
        assert "secret-password" not in done.stderr
        assert "Locker is running" not in done.stdout


def test_a_malformed_database_url_names_the_variable_without_its_password(env):
    env["DATABASE_URL"] = "mysqlx://locker:secret-password@db/locker"
    done = run_quietly(["manage.py", "check"], env)
    assert_explained(done, "DATABASE_URL", "mysqlx", "postgres://")
    assert "secret-password" not in done.stderr


def test_a_secret_file_that_cannot_be_read_is_named(env, tmp_path):
    env["SECRET_KEY_FILE"] = str(tmp_path / "missing")
    assert_explained(run_quietly(["manage.py", "check"], env), "SECRET_KEY_FILE", "No such file")


def test_port_without_base_url_makes_links_with_that_port(env):
    env["PORT"] = "8123"
    shown = run_quietly(
        [
            "manage.py",
            "shell",
            "-c",
            "from django.conf import settings; "
            "print(settings.LOCKER_BASE_URL, settings.CSRF_TRUSTED_ORIGINS)",
        ],
        env,
    )
    assert shown.returncode == 0, shown.stderr
    assert lines(shown.stdout)[-1] == "http://127.0.0.1:8123 ['http://127.0.0.1:8123']"


def test_the_base_url_host_is_served_without_listing_it_again(env):
    env["LOCKER_BASE_URL"] = "https://files.example.org"
    shown = run_quietly(
        [
            "manage.py",
            "shell",
            "-c",
            "from django.conf import settings; print(settings.ALLOWED_HOSTS)",
        ],
        env,
    )
    assert shown.returncode == 0, shown.stderr
    assert "'files.example.org'" in lines(shown.stdout)[-1]


def test_a_port_in_use_is_refused_before_anything_runs(env, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env["PORT"] = str(port)
        for command in (["-m", "locker.run", "--check"], ["-m", "locker.run"]):
            done = run_quietly(command, env)
            assert_explained(done, f"port {port}", "already in use", "PORT")
            assert "Locker is running" not in done.stdout
    # Nothing ran: no settings were read, so not even the data dir exists (no database, no admin).
    assert not (tmp_path / "data").exists()


def test_make_run_checks_the_port_before_it_migrates_or_creates_the_admin():
    planned = subprocess.run(
        ["make", "-n", "run"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    steps = [line for line in planned if "manage.py" in line or "locker.run" in line]
    assert "-m locker.run --check" in steps[0]
    assert "manage.py migrate" in steps[1]
    assert steps[-1].endswith("-m locker.run")
    # The admin is created by the launcher, after the port is its own (locker/run.py).
    assert not any("ensureadmin" in step for step in steps)


# --- locker.env ------------------------------------------------------------------------------

SHOW = (
    "from django.conf import settings; "
    "print(settings.DATA_DIR, settings.LOCKER_DEFAULT_QUOTA, settings.LOCKER_ENV_FILE)"
)


def test_manage_py_reads_the_settings_file_and_the_environment_wins(env, tmp_path):
    from_file = tmp_path / "from-file"
    settings_file = tmp_path / "locker.env"
    settings_file.write_text(
        "# Locker's settings\n"
        "\n"
        f"LOCKER_DATA_DIR={from_file}\n"
        "export LOCKER_DEFAULT_QUOTA='5G'\n"
        'LOCKER_ADMIN_PASSWORD="a # is part of a value"\n'
    )
    env.pop("LOCKER_DATA_DIR")
    env["LOCKER_ENV_FILE"] = str(settings_file)
    shown = run_quietly(["manage.py", "shell", "-c", SHOW], env)
    assert shown.returncode == 0, shown.stderr
    assert lines(shown.stdout)[-1] == f"{from_file} {5 * 1024**3} {settings_file}"

    env["LOCKER_DEFAULT_QUOTA"] = "7G"
    shown = run_quietly(["manage.py", "shell", "-c", SHOW], env)
    assert lines(shown.stdout)[-1] == f"{from_file} {7 * 1024**3} {settings_file}"


def test_the_launcher_reads_the_settings_file_too(env, tmp_path):
    settings_file = tmp_path / "locker.env"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        settings_file.write_text(f"PORT={port}\n")
        env.pop("PORT")
        env["LOCKER_ENV_FILE"] = str(settings_file)
        done = run_quietly(["-m", "locker.run", "--check"], env)
    assert_explained(done, f"port {port}", "already in use")


def test_a_malformed_settings_file_names_its_line_not_its_content(env, tmp_path):
    settings_file = tmp_path / "locker.env"
    settings_file.write_text("# fine\nPORT=8000\nmy password is hunter2\n")
    env["LOCKER_ENV_FILE"] = str(settings_file)
    for command in (["manage.py", "check"], ["-m", "locker.run", "--check"]):
        done = run_quietly(command, env)
        assert_explained(done, f"{settings_file} line 3", "KEY=VALUE")
        assert "hunter2" not in done.stderr


def test_a_named_settings_file_that_is_missing_is_refused(env, tmp_path):
    env["LOCKER_ENV_FILE"] = str(tmp_path / "nowhere.env")
    assert_explained(run_quietly(["manage.py", "check"], env), "LOCKER_ENV_FILE", "nowhere.env")


def test_the_settings_file_is_locker_env_next_to_the_checkout(monkeypatch, tmp_path):
    monkeypatch.setattr(envfile, "DEFAULT_PATH", tmp_path / "locker.env")
    monkeypatch.delenv("LOCKER_ENV_FILE", raising=False)
    assert envfile.path() is None
    (tmp_path / "locker.env").write_text("PORT=8000\n")
    assert envfile.path() == tmp_path / "locker.env"
    monkeypatch.setenv("LOCKER_ENV_FILE", "")
    assert envfile.path() is None
    assert envfile.DEFAULT_PATH.name == "locker.env"
    assert Path(envfile.__file__).resolve().parents[1] == REPO


def test_the_example_settings_file_parses_and_names_only_known_settings():
    example = (REPO / "locker.env.example").read_text()
    assert envfile.parse(example, "locker.env.example") == {}  # copied as it is: no change
    settings_lines = re.findall(r"^# ([A-Z][A-Z0-9_]*=.*)$", example, re.MULTILINE)
    names = envfile.parse("\n".join(settings_lines), "locker.env.example")
    assert "LOCKER_DATA_DIR" in names and "DATABASE_URL" in names
    readme = (REPO / "README.md").read_text()
    for name in names:
        # SECRET_KEY_FILE: README names SECRET_KEY and the NAME_FILE rule.
        assert f"`{name.removesuffix('_FILE')}`" in readme, name
    assert "locker.env" in (REPO / ".gitignore").read_text().split()


# --- The test suite and the operator's instance ----------------------------------------------


def test_this_run_uses_a_data_dir_of_its_own():
    assert settings.LOCKER_ENV_FILE is None
    assert settings.DATA_DIR != REPO / "data"
    assert settings.DATA_DIR.name.startswith("locker-test-")


def test_the_suite_ignores_an_exported_data_dir_and_the_settings_file(tmp_path):
    operator = tmp_path / "operator-data"
    settings_file = tmp_path / "locker.env"
    settings_file.write_text(f"LOCKER_DATA_DIR={tmp_path / 'file-data'}\n")
    env = dict(os.environ, LOCKER_DATA_DIR=str(operator), LOCKER_ENV_FILE=str(settings_file))
    env.pop("PYTEST_XDIST_WORKER", None)
    done = run_quietly(
        [
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:xdist",
            f"{Path(__file__).relative_to(REPO)}::test_this_run_uses_a_data_dir_of_its_own",
        ],
        env,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "1 passed" in done.stdout
    assert not operator.exists()
    assert not (tmp_path / "file-data").exists()
