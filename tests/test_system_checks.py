"""Every system check is registered once, by its app's ready(), with its id unchanged; and
`manage.py check --deploy` answers what docs/operations.md says it does."""

import base64
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

from django.core.checks.registry import registry

from files.checks import check_scanner, scanner_with_upload_links_check
from locker.checks import debug_with_public_host_check
from sharing.checks import sharing_settings_check
from storage.checks import check_master_keys, master_key_backup_check, s3_public_bucket_check
from tests.fixtures.launcher import REPO, default_env, free_port, run_quietly


def test_every_check_is_registered_once():
    always = registry.get_checks(include_deployment_checks=False)
    with_deploy = registry.get_checks(include_deployment_checks=True)
    for check in (
        debug_with_public_host_check,
        check_master_keys,
        check_scanner,
        sharing_settings_check,
    ):
        assert always.count(check) == 1, check.__name__
    for check in (master_key_backup_check, s3_public_bucket_check, scanner_with_upload_links_check):
        assert check not in always, check.__name__
        assert with_deploy.count(check) == 1, check.__name__


# --- `manage.py check --deploy` as docs/operations.md says ---------------------------------


def _deploy_block() -> str:
    """The sh block under "### `manage.py check --deploy`" in docs/operations.md."""
    doc = (REPO / "docs" / "operations.md").read_text()
    section = doc[doc.index("### `manage.py check --deploy`") :]
    return re.search(r"```sh\n(.*?)```", section, re.DOTALL).group(1)


def test_the_documented_production_configuration_passes_check_deploy(tmp_path):
    env = default_env(tmp_path / "data", free_port())
    # `python` in the block is this interpreter.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    done = subprocess.run(
        ["bash", "-euc", _deploy_block()],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "System check identified no issues (0 silenced)." in done.stdout


def test_check_deploy_on_the_development_defaults_prints_what_the_docs_list(tmp_path):
    env = default_env(tmp_path / "data", free_port())
    done = run_quietly(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], env)
    assert done.returncode == 1
    found = set(re.findall(r"\((\w+\.W\d+)\)", done.stderr))
    assert found == {
        "locker.W001",
        "locker.W003",
        "security.W004",
        "security.W008",
        "security.W012",
        "security.W016",
    }
    doc = (REPO / "docs" / "operations.md").read_text()
    for check_id in found:
        assert f"`{check_id}`" in doc, check_id
    assert run_quietly(["manage.py", "check", "--deploy"], env).returncode == 0


def test_master_keys_in_a_file_count_as_kept_apart(tmp_path):
    keys = tmp_path / "master_keys"
    keys.write_text("k1:" + base64.b64encode(secrets.token_bytes(32)).decode() + "\n")
    env = default_env(tmp_path / "data", free_port())
    env["LOCKER_MASTER_KEYS_FILE"] = str(keys)
    done = run_quietly(["manage.py", "check", "--deploy"], env)
    assert done.returncode == 0, done.stderr
    assert "locker.W001" not in done.stderr
