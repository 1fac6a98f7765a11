"""The official JavaScript client, tus-js-client (npm), run with Node against the live server:
one process uploads part of a file and walks away, another resumes it from the server's offset."""

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from accounts.services import api_token_create
from files.models import File, TusUpload
from tests.tus.helpers import stored_bytes

JS_DIR = Path(__file__).parent / "js"
MIB = 1024 * 1024


@pytest.fixture(scope="session")
def tus_js_client():
    """`npm ci` once when node_modules is missing (CI installs it in .ci/run)."""
    if not (JS_DIR / "node_modules" / "tus-js-client").is_dir():
        npm = shutil.which("npm")
        assert npm, "npm is needed for the tus-js-client test"
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=JS_DIR, check=True, timeout=300)
    return JS_DIR / "upload.mjs"


def run_node(script: Path, *args: str) -> dict:
    node = shutil.which("node")
    assert node, "node is needed for the tus-js-client test"
    done = subprocess.run(
        [node, str(script), *args], cwd=JS_DIR, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_tus_js_client_uploads_and_resumes(tus_js_client, live_server, alice, tmp_path):
    data = os.urandom(23 * MIB + 7)
    path = tmp_path / "upload.bin"
    path.write_bytes(data)
    _token, secret = api_token_create(user=alice, name="node")
    endpoint = f"{live_server.url}/api/v1/tus/"

    started = run_node(tus_js_client, "start", endpoint, secret, str(path), str(10 * MIB))
    assert started["accepted"] == 10 * MIB
    assert TusUpload.objects.get().offset == 10 * MIB
    assert not File.objects.exists()

    resumed = run_node(tus_js_client, "resume", endpoint, secret, str(path), started["url"])
    assert resumed["url"] == started["url"]
    assert resumed["resumedAt"] == 10 * MIB
    file = File.objects.get(owner=alice)
    assert resumed["fileId"] == str(file.public_id)
    assert file.sha256 == hashlib.sha256(data).hexdigest()
    assert stored_bytes(file) == data
    assert TusUpload.objects.count() == 1
