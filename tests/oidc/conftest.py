"""Identity providers for the single sign-on tests, each a real HTTP server started here:

- `oidc_provider`: panva's oidc-provider (OpenID Certified) run by Node, with its own log-in
  pages; its accounts and their groups live in a JSON file the test can rewrite.
- `fake_provider`: a small Python provider (the standard library's HTTP server, keys and
  tokens from joserfc) that misbehaves on demand: a bad signature, another issuer or
  audience, an expired token, a nonce of its own. A certified provider cannot be made to.
"""

import base64
import hashlib
import json
import re
import secrets
import shutil
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import RSAKey

from tests.fixtures.launcher import free_port

PROVIDER_DIR = Path(__file__).parent / "provider"
CLIENT_ID = "locker"
CLIENT_SECRET = "locker-test-secret"
TESTSERVER = "http://testserver"


def _ensure_installed() -> None:
    """`npm ci` once when node_modules is missing (CI installs it with `make install`)."""
    if not (PROVIDER_DIR / "node_modules" / "oidc-provider").is_dir():
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"], cwd=PROVIDER_DIR, check=True, timeout=300
        )


class NodeProvider:
    def __init__(self, tmp_path: Path, *, base_url: str):
        _ensure_installed()
        node = shutil.which("node")
        assert node, "node is needed for the single sign-on tests"
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.base_url = base_url
        self.accounts_file = tmp_path / "oidc-accounts.json"
        self.accounts: dict = {}
        self._write()
        env = {
            "PATH": "/usr/bin:/bin",
            "OIDC_PORT": str(self.port),
            "OIDC_ACCOUNTS": str(self.accounts_file),
            "OIDC_REDIRECT_URIS": f"{base_url}/accounts/oidc/callback/",
            "OIDC_POST_LOGOUT_URIS": f"{base_url}/accounts/login/",
        }
        self.log = open(tmp_path / "oidc-provider.log", "w+")  # noqa: SIM115
        self.process = subprocess.Popen(
            [node, "provider.mjs"], cwd=PROVIDER_DIR, env=env, stdout=self.log, stderr=self.log
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(self.issuer + "/.well-known/openid-configuration", timeout=1)
                break
            except requests.ConnectionError:
                assert self.process.poll() is None, self._log()
                assert time.monotonic() < deadline, "the OpenID provider did not start"
                time.sleep(0.1)
        # The provider's side of the browser: its cookies (its own log-in session).
        self.browser = requests.Session()

    def _log(self) -> str:
        self.log.seek(0)
        return self.log.read()

    def _write(self) -> None:
        self.accounts_file.write_text(json.dumps(self.accounts))

    def account(self, login: str, *, groups: list[str], email: str | None = None, **claims):
        email = email or f"{login}@example.org"
        self.accounts[login] = {"email": email, "groups": groups, **claims}
        self._write()

    def revoke(self, token: str) -> None:
        """Revoke an access or refresh token at the provider (RFC 7009), as it does when the
        user is disabled or their session there ends."""
        response = requests.post(
            self.issuer + "/token/revocation",
            data={"token": token},
            auth=(CLIENT_ID, CLIENT_SECRET),
            timeout=10,
        )
        assert response.status_code == 200, response.text

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
        self.log.close()

    def sign_in(self, url: str, *, login: str) -> str:
        """Go through the provider's own pages from `url` (its authorization endpoint) as a
        browser would, logging in as `login` if it asks; returns the URL it sends back to
        Locker (the callback)."""
        response = self.browser.get(url, allow_redirects=False, timeout=10)
        for _ in range(10):
            if response.status_code in (302, 303):
                url = urljoin(url, response.headers["Location"])
                if not url.startswith(self.issuer):
                    return url
                response = self.browser.get(url, allow_redirects=False, timeout=10)
                continue
            assert response.status_code == 200, (response.status_code, response.text[:500])
            form = re.search(r'<form[^>]*action="([^"]+)"', response.text)
            assert form, response.text[:500]
            hidden = r'<input type="hidden" name="([^"]+)" value="([^"]*)"'
            data = dict(re.findall(hidden, response.text))
            if 'name="login"' in response.text:
                data.update({"login": login, "password": "any"})
            if 'name="logout"' in response.text:
                data["logout"] = "yes"
            url = urljoin(url, form.group(1))
            response = self.browser.post(url, data=data, allow_redirects=False, timeout=10)
        raise AssertionError("the provider's pages went round in circles")

    def shows_login_form(self, url: str) -> bool:
        """Whether the provider asks for a log-in when sent to `url` (its session is over)."""
        response = self.browser.get(url, allow_redirects=True, timeout=10)
        return 'name="login"' in response.text


def sso_settings(settings, issuer: str, base_url: str = TESTSERVER) -> None:
    settings.LOCKER_BASE_URL = base_url
    settings.LOCKER_OIDC_ISSUER = issuer
    settings.LOCKER_OIDC_CLIENT_ID = CLIENT_ID
    settings.LOCKER_OIDC_CLIENT_SECRET = CLIENT_SECRET
    settings.LOCKER_OIDC_ALLOWED_GROUPS = ["locker"]
    settings.LOCKER_OIDC_STAFF_GROUP = "locker-admins"
    settings.LOCKER_OIDC_BUTTON = "Log in with Example SSO"


@pytest.fixture
def oidc_provider(tmp_path, settings):
    provider = NodeProvider(tmp_path, base_url=TESTSERVER)
    sso_settings(settings, provider.issuer)
    yield provider
    provider.stop()


def sso_log_in(client, provider, login: str, *, start: str = "/accounts/oidc/login/"):
    """The whole log-in: Locker's start URL, the provider's pages, Locker's callback. Returns
    the callback's response."""
    response = client.get(start)
    assert response.status_code == 302, response.content[:500]
    callback = provider.sign_in(response["Location"], login=login)
    assert callback.startswith(TESTSERVER + "/accounts/oidc/callback/"), callback
    return client.get(callback.removeprefix(TESTSERVER))


# --- A provider that misbehaves on demand ----------------------------------------------------


class FakeProvider:
    """Authorization endpoint that answers at once (no log-in page), token endpoint that
    checks the PKCE verifier and returns an ID token spoilt as `mode` says."""

    def __init__(self):
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.key = RSAKey.generate_key(2048, parameters={"kid": "k1", "use": "sig"})
        self.jwks_requests = 0
        self.mode = "ok"
        self.extra_claims: dict = {}
        self.codes: dict[str, dict] = {}
        self.token_requests: list[dict] = []
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _json(self, body: dict, status: int = 200):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                url = urlsplit(self.path)
                if url.path == "/.well-known/openid-configuration":
                    return self._json(provider.metadata())
                if url.path == "/jwks":
                    provider.jwks_requests += 1
                    return self._json({"keys": [provider.key.as_dict(private=False)]})
                if url.path == "/authorize":
                    params = {k: v[0] for k, v in parse_qs(url.query).items()}
                    code = secrets.token_urlsafe(16)
                    provider.codes[code] = params
                    query = urlencode({"code": code, "state": params["state"]})
                    self.send_response(302)
                    self.send_header("Location", f"{params['redirect_uri']}?{query}")
                    self.end_headers()
                    return None
                return self._json({"error": "not_found"}, 404)

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                provider.token_requests.append(form)
                started = provider.codes.pop(form.get("code", ""), None)
                challenge = (
                    base64.urlsafe_b64encode(
                        hashlib.sha256(form.get("code_verifier", "").encode()).digest()
                    )
                    .rstrip(b"=")
                    .decode()
                )
                if started is None or challenge != started.get("code_challenge"):
                    return self._json({"error": "invalid_grant"}, 400)
                return self._json(
                    {
                        "access_token": secrets.token_urlsafe(16),
                        "token_type": "Bearer",
                        "expires_in": 300,
                        "id_token": provider.id_token(nonce=started.get("nonce")),
                    }
                )

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def metadata(self) -> dict:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": self.issuer + "/authorize",
            "token_endpoint": self.issuer + "/token",
            "jwks_uri": self.issuer + "/jwks",
            "id_token_signing_alg_values_supported": ["RS256"],
        }

    def id_token(self, *, nonce: str | None) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": "fake-1",
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + 300,
            "auth_time": now,
            "nonce": nonce,
            "preferred_username": "frank",
            "email": "frank@example.org",
            "email_verified": True,
            "groups": ["locker"],
        }
        claims.update(self.extra_claims)
        key = self.key
        if self.mode == "wrong_issuer":
            claims["iss"] = "http://127.0.0.1:1"
        elif self.mode == "wrong_audience":
            claims["aud"] = "another-client"
        elif self.mode == "expired":
            claims["iat"], claims["exp"] = now - 7200, now - 3600
        elif self.mode == "wrong_nonce":
            claims["nonce"] = "a-nonce-of-the-attackers"
        elif self.mode == "bad_signature":
            # Another key that claims the provider's key id.
            key = RSAKey.generate_key(2048, parameters={"kid": "k1"})
        return jwt.encode({"alg": "RS256", "kid": self.key.kid}, claims, key)

    def rotate_key(self, kid: str) -> None:
        """A new signing key, published in place of the old one."""
        self.key = RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig"})

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_provider(settings):
    provider = FakeProvider()
    sso_settings(settings, provider.issuer)
    yield provider
    provider.stop()


def fake_log_in(client):
    """Start at Locker, follow the fake provider's immediate answer, return the callback's
    response."""
    response = client.get("/accounts/oidc/login/")
    assert response.status_code == 302, response.content[:500]
    answer = requests.get(response["Location"], allow_redirects=False, timeout=10)
    assert answer.status_code == 302
    return client.get(answer.headers["Location"].removeprefix(TESTSERVER))
