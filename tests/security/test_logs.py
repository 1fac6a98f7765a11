"""Whoever reads the logs must not get the links: tokens and upload ids are masked in every log.

The real product (`python -m locker.run`: gunicorn with make run's command line, the Celery worker
and beat) serves share links, upload links and tus uploads; then every line it wrote is searched
for the secrets.
"""

import base64
import json
import secrets

import pytest

from tests.fixtures.launcher import Launcher, http, wait_for


def _api(launcher: Launcher, token: str, method: str, path: str, body: dict) -> dict:
    status, _headers, answer = http(
        method,
        f"{launcher.base}{path}",
        body=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    assert status == 201, (status, answer[:500])
    return json.loads(answer)


def _tus_create(launcher: Launcher, collection: str, headers: dict | None = None) -> str:
    name = base64.b64encode(b"secret-plans.txt").decode()
    status, answer_headers, answer = http(
        "POST",
        f"{launcher.base}{collection}",
        headers={
            "Tus-Resumable": "1.0.0",
            "Upload-Length": "5",
            "Upload-Metadata": f"filename {name}",
            **(headers or {}),
        },
    )
    assert status == 201, (status, answer[:500])
    return answer_headers["Location"].rsplit("/", 1)[1]


@pytest.mark.worker
def test_link_tokens_and_upload_ids_never_reach_a_log(tmp_path):
    launcher = Launcher(tmp_path)
    try:
        launcher.prepare()
        api_token = launcher.create_alice()
        launcher.start()
        launcher.wait_ready()
        auth = {"Authorization": f"Bearer {api_token}"}

        shared = launcher.upload(api_token, "report.txt", b"quarterly figures\n")
        share = _api(launcher, api_token, "POST", "/api/v1/shares/", {"file": shared["id"]})
        inbox = _api(launcher, api_token, "POST", "/api/v1/folders/", {"name": "Inbox"})
        link = _api(launcher, api_token, "POST", "/api/v1/upload-links/", {"folder": inbox["id"]})
        link_upload = _tus_create(launcher, f"/r/{link['token']}/tus/")
        api_upload = _tus_create(launcher, "/api/v1/tus/", auth)
        # Links that only exist in e-mails; a wrong or used one is still someone's secret.
        invitation, signup, reset = (secrets.token_urlsafe(32) for _ in range(3))
        secret_values = {
            "share token": share["token"],
            "upload-link token": link["token"],
            "upload-link tus id": link_upload,
            "API tus id": api_upload,
            "invitation token": invitation,
            "sign-up token": signup,
            "reset token": reset,
            "unknown share token": "x" * 43,
        }

        s, r = f"/s/{share['token']}", f"/r/{link['token']}"
        tus = {"Tus-Resumable": "1.0.0"}
        requests = [
            ("GET", s, {}),
            ("GET", f"{s}/download", {}),
            ("GET", f"{s}?download=1", {"Referer": f"{launcher.base}{s}"}),
            ("GET", r, {}),
            ("HEAD", f"{r}/tus/{link_upload}", tus),
            ("DELETE", f"{r}/tus/{link_upload}", tus),
            ("HEAD", f"/api/v1/tus/{api_upload}", {**tus, **auth}),
            ("GET", f"/s/{'x' * 43}", {}),  # 404: Django logs "Not Found: <path>"
            ("GET", f"/accounts/invitation/{invitation}/", {}),
            ("GET", f"/accounts/signup/{signup}/", {}),
            ("GET", f"/accounts/reset/MQ/{reset}/", {}),
        ]
        for method, path, headers in requests:
            status, _headers, _body = http(method, f"{launcher.base}{path}", headers=headers)
            assert status != 0, path
        wait_for(lambda: "/accounts/reset/MQ/" in launcher.log(), 30, "the access log")
        assert launcher.interrupt() == 0
        log = launcher.log()
    finally:
        launcher.cleanup()

    for what, value in secret_values.items():
        assert value not in log, f"the {what} is in the log"
    # The requests are still there, masked.
    assert '"GET /s/*** HTTP/1.1" 200' in log
    assert '"GET /s/***/download HTTP/1.1" 200' in log
    assert f'"{launcher.base}/s/***"' in log  # the referer
    assert '"HEAD /r/***/tus/*** HTTP/1.1" 200' in log
    assert '"DELETE /r/***/tus/*** HTTP/1.1" 204' in log
    assert '"HEAD /api/v1/tus/*** HTTP/1.1" 200' in log
    assert "Not Found: /s/***" in log
    assert '"GET /accounts/invitation/***/ HTTP/1.1"' in log
    assert '"GET /accounts/signup/***/ HTTP/1.1"' in log
    assert '"GET /accounts/reset/MQ/***/ HTTP/1.1"' in log


def test_list_cursors_are_masked_like_tokens():
    """A cursor is signed, not encrypted (its payload holds the last row's name, size or time):
    a log line keeps the request but not the cursor."""
    from locker.logmask import mask_secrets

    cursor = ".eJyrVkpLzs8tKEotLs5MzVGyUio:1xY:sig"
    line = f'"GET /api/v1/files/?folder=f1&cursor={cursor}&page_size=2 HTTP/1.1"'
    assert mask_secrets(line) == '"GET /api/v1/files/?folder=f1&cursor=***&page_size=2 HTTP/1.1"'
    assert mask_secrets("/api/v1/shares/?cursor=abc") == "/api/v1/shares/?cursor=***"
    assert mask_secrets("/api/v1/shares/?page=2") == "/api/v1/shares/?page=2"
