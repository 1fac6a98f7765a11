"""docs/api.md works as written: its shell block makes the token and its Python blocks, run in
order in one interpreter, drive a real instance (`make run`'s launcher: web, worker, beat)."""

import re
import shlex
import subprocess
import sys

import pytest

from tests.fixtures.launcher import REPO, Launcher

GUIDE = REPO / "docs" / "api.md"


def _blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```$", GUIDE.read_text(), flags=re.S | re.M)


def _token_command() -> list[str]:
    """The guide's `createapitoken` command, as its argument list."""
    (shell,) = [block for block in _blocks("sh") if "createapitoken" in block]
    words = shlex.split(shell.replace("\\\n", " "))
    return words[words.index("manage.py") + 1 :]


@pytest.fixture
def instance(tmp_path):
    launcher = Launcher(tmp_path, {"LOCKER_WEBHOOK_ALLOW_PRIVATE": "true"})
    launcher.prepare()
    launcher.manage_shell(
        "from accounts.models import User;"
        "User.objects.create_user(username='alice', email='alice@example.com',"
        " password='alice-password-1')"
    )
    launcher.start()
    try:
        launcher.wait_ready()
        yield launcher
    finally:
        launcher.cleanup()


def test_every_example_of_the_api_guide_runs_against_a_real_instance(instance):
    made = subprocess.run(
        [sys.executable, "manage.py", *_token_command()],
        cwd=REPO,
        env=instance.env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert made.returncode == 0, made.stderr[-2000:]
    token = re.search(r"\blk_\S+", made.stdout).group(0)

    script = "\n\n".join(_blocks("python"))
    assert script.count("api.") > 10, "the guide's Python blocks were not found"
    env = {**instance.env, "LOCKER_URL": instance.base, "LOCKER_TOKEN": token}
    ran = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert ran.returncode == 0, (ran.stdout[-2000:], ran.stderr[-4000:])
    # What the guide prints at each step, so a block that silently did nothing fails too.
    for line in (
        "logged in as alice",
        "not_found -",
        "stored report.txt",
        "share link: http",
        "resumable upload stored as",
        "event: file.uploaded invoice.pdf",
    ):
        assert line in ran.stdout, (line, ran.stdout)
