"""More attacks on single sign-on, sent from outside as an attacker (or a hostile or broken
provider) would: against the real provider (oidc-provider, run by Node) and against small HTTP
servers started here that misbehave where a certified provider cannot (unsigned ID tokens,
answers dribbled a byte at a time, endless bodies, a provider that hangs)."""

import base64
import json
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from django.core import mail
from django.core.cache import cache

from accounts import oidc
from accounts.models import AuditEvent, OidcIdentity, User
from tests.fixtures.launcher import free_port
from tests.fixtures.users import make_user
from tests.oidc.conftest import CLIENT_SECRET, FakeProvider, fake_log_in, sso_log_in, sso_settings

pytestmark = pytest.mark.django_db


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# --- Sessions -------------------------------------------------------------------------------


def test_a_bearer_header_on_a_web_page_does_not_skip_the_session_re_check(
    client, oidc_provider, settings
):
    """A user removed from the allowed group keeps their browser session's cookie and adds
    `Authorization: Bearer anything` to each request, hoping the re-check steps aside."""
    settings.LOCKER_OIDC_RECHECK_SECONDS = 0
    oidc_provider.account("ann", groups=["locker"])
    sso_log_in(client, oidc_provider, "ann")
    oidc_provider.account("ann", groups=[])

    response = client.get("/accounts/profile/", HTTP_AUTHORIZATION="Bearer not-a-token")

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?sso_ended=1"
    assert client.get("/accounts/profile/").status_code == 302


class _Hanging:
    """A provider that accepts connections and never answers (a host that hangs): counts how
    often Locker asked it."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(50)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.connections: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while True:
            try:
                conn, _addr = self.sock.accept()
            except OSError:
                return
            self.connections.append(conn)

    def stop(self):
        self.sock.close()
        for conn in self.connections:
            conn.close()


def test_a_hanging_provider_is_not_asked_again_at_every_request(client, oidc_provider, settings):
    """Provider down → the session goes on (documented); but each request of each SSO user
    must not wait LOCKER_OIDC_TIMEOUT for it again: the workers would all be tied up."""
    settings.LOCKER_OIDC_RECHECK_SECONDS = 0
    settings.LOCKER_OIDC_TIMEOUT = 1
    oidc_provider.account("ann", groups=["locker"])
    sso_log_in(client, oidc_provider, "ann")
    hanging = _Hanging()
    key = oidc._cache_key("metadata")
    cache.set(key, {**cache.get(key), "userinfo_endpoint": hanging.url + "/me"}, 600)
    try:
        answers = [client.get("/accounts/profile/").status_code for _ in range(3)]
    finally:
        hanging.stop()

    assert answers == [200, 200, 200]  # an outage of the provider logs nobody out
    assert len(hanging.connections) == 1


# --- Password log-in switched off ------------------------------------------------------------


def test_self_service_sign_up_is_no_way_around_sso_only_log_in(client, oidc_provider, settings):
    """LOCKER_PASSWORD_LOGIN=none: an outsider with a mailbox signs up and would be logged in
    with a local password, past the provider and its allowed groups."""
    settings.LOCKER_PASSWORD_LOGIN = "none"
    settings.LOCKER_SIGNUP = True

    response = client.post("/accounts/signup/", {"username": "outsider", "email": "o@x.example"})

    assert response.status_code == 404
    assert not mail.outbox
    assert client.get("/accounts/profile/").status_code == 302


def test_accepting_an_invitation_does_not_log_in_when_password_log_in_is_off(
    client, oidc_provider, settings, staff
):
    settings.LOCKER_PASSWORD_LOGIN = "staff"
    staff_client = type(client)()
    staff_client.force_login(staff)
    staff_client.post("/accounts/invite/", {"username": "newbie", "email": "newbie@example.com"})
    path = re.search(r"https?://\S+(/accounts/invitation/[^/\s]+/)", mail.outbox[-1].body)[1]

    response = client.post(
        path, {"new_password1": "invited secret 42", "new_password2": "invited secret 42"}
    )

    assert response.status_code == 302 and response["Location"] == "/accounts/login/"
    assert client.get("/accounts/profile/").status_code == 302
    # And the password it chose does not open the log-in form either.
    client.post("/accounts/login/", {"username": "newbie", "password": "invited secret 42"})
    assert client.get("/accounts/profile/").status_code == 302


# --- Claims that take over or confuse accounts ------------------------------------------------


def test_allowed_domain_is_not_granted_by_an_unverified_e_mail(client, oidc_provider, settings):
    """A user of the provider types someone@example.org as their (unverified) address: the
    domain allow-list must not let them in."""
    settings.LOCKER_OIDC_ALLOWED_DOMAINS = ["example.org"]
    oidc_provider.account("mallory", groups=["locker"], email_verified=False)

    response = sso_log_in(client, oidc_provider, "mallory")

    assert response.status_code == 403 and b'data-reason="domain"' in response.content
    assert not User.objects.filter(username="mallory").exists()


def test_an_over_long_e_mail_is_not_cut_into_an_allowed_domain(client, oidc_provider, settings):
    """mallory owns example.org.attacker.test; her address, longer than 254 characters, cut
    at 254 would end in @example.org."""
    settings.LOCKER_OIDC_ALLOWED_DOMAINS = ["example.org"]
    email = "m" * 242 + "@example.org.attacker.test"
    oidc_provider.account("mallory", groups=["locker"], email=email)

    response = sso_log_in(client, oidc_provider, "mallory")

    assert response.status_code == 403
    assert not User.objects.filter(username="mallory").exists()
    assert not User.objects.filter(email__endswith="@example.org").exists()


def test_a_full_width_admin_username_does_not_collide_with_the_local_admin(client, oidc_provider):
    """`ａｄｍｉｎ` (full-width letters) is `admin` once Django normalises it (NFKC)."""
    admin = make_user("admin", is_staff=True, is_superuser=True)
    oidc_provider.account("ａｄｍｉｎ", groups=["locker"], email="fw@example.org")

    response = sso_log_in(client, oidc_provider, "ａｄｍｉｎ")

    assert response.status_code == 302
    sso_user = OidcIdentity.objects.get(subject="ａｄｍｉｎ").user
    assert sso_user != admin and sso_user.username.startswith("admin-")
    assert not sso_user.is_staff
    admin.refresh_from_db()
    assert admin.email == "admin@example.com" and not admin.oidc_identities.exists()


# --- ID tokens that are not signed by the provider's key --------------------------------------


class _NoneProvider(FakeProvider):
    """Announces `none` among its ID token algorithms (OpenID Discovery allows it for the code
    flow) and signs nothing, or signs with HS256 and the client secret."""

    alg = "none"

    def metadata(self) -> dict:
        return {**super().metadata(), "id_token_signing_alg_values_supported": ["RS256", self.alg]}

    def id_token(self, *, nonce):
        signed = super().id_token(nonce=nonce)
        payload = signed.split(".")[1]
        if self.alg == "none":
            header = _b64(json.dumps({"alg": "none", "kid": self.key.kid}).encode())
            return f"{header}.{payload}."
        import hashlib
        import hmac

        header = _b64(json.dumps({"alg": "HS256", "kid": self.key.kid}).encode())
        mac = hmac.new(CLIENT_SECRET.encode(), f"{header}.{payload}".encode(), hashlib.sha256)
        return f"{header}.{payload}.{_b64(mac.digest())}"


@pytest.mark.parametrize("alg", ["none", "HS256"])
def test_unsigned_or_client_secret_signed_id_token_is_refused(client, settings, alg):
    provider = _NoneProvider()
    provider.alg = alg
    sso_settings(settings, provider.issuer)
    try:
        response = fake_log_in(client)
    finally:
        provider.stop()

    assert response.status_code == 403 and b'data-reason="id_token"' in response.content
    assert not User.objects.filter(username="frank").exists()


# --- A provider that answers slowly or without end --------------------------------------------


class _Misbehaving:
    """An HTTP server whose discovery document is dribbled (a byte every quarter second, so
    that no single read ever times out) and whose userinfo answer never ends."""

    def __init__(self):
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.sent = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                if self.path == "/.well-known/openid-configuration":
                    body = json.dumps(
                        {
                            "issuer": server.issuer,
                            "authorization_endpoint": server.issuer + "/authorize",
                            "token_endpoint": server.issuer + "/token",
                            "jwks_uri": server.issuer + "/jwks",
                        }
                    ).encode()
                    padding = b" " * 24  # 6 seconds of it
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(padding) + len(body)))
                    self.end_headers()
                    try:
                        for byte in padding:
                            self.wfile.write(bytes([byte]))
                            self.wfile.flush()
                            time.sleep(0.25)
                        self.wfile.write(body)
                    except OSError:
                        pass
                    return
                # userinfo: `{"sub": "ann", "x": "aaaa…` for up to 64 MiB.
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                chunk = b"a" * 65536
                try:
                    self.wfile.write(b'{"sub": "ann", "x": "')
                    for _ in range(1024):
                        self.wfile.write(chunk)
                        server.sent += len(chunk)
                except OSError:
                    pass
                self.close_connection = True

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def test_a_discovery_document_dribbled_past_the_timeout_gives_503(client, settings):
    """Every read gets a byte within LOCKER_OIDC_TIMEOUT, the whole answer takes longer: the
    timeout is for the whole answer, or a provider (or whoever sits in its place) ties up a
    worker as long as it likes."""
    slow = _Misbehaving()
    sso_settings(settings, slow.issuer)
    settings.LOCKER_OIDC_TIMEOUT = 1
    try:
        response = client.get("/accounts/oidc/login/")
    finally:
        slow.stop()

    assert response.status_code == 503


def test_an_endless_userinfo_answer_is_not_read_to_its_end(client, oidc_provider, settings):
    settings.LOCKER_OIDC_RECHECK_SECONDS = 0
    oidc_provider.account("ann", groups=["locker"])
    sso_log_in(client, oidc_provider, "ann")
    endless = _Misbehaving()
    key = oidc._cache_key("metadata")
    cache.set(key, {**cache.get(key), "userinfo_endpoint": endless.issuer + "/me"}, 600)
    try:
        response = client.get("/accounts/profile/")
    finally:
        endless.stop()

    # Not trusted, not a 500: the session, not confirmed, ends.
    assert response["Location"] == "/accounts/login/?sso_ended=1"
    # Locker stopped reading at its limit (512 KiB), give or take the sockets' buffers.
    assert endless.sent < 16 * 1024 * 1024
    ended = AuditEvent.objects.filter(action="sso.session_ended").get()
    assert ended.extra == {"reason": "userinfo_too_large"}


def test_a_key_id_pointing_at_an_attackers_url_fetches_nothing_from_it(client, fake_provider):
    """`jku`/`x5u`/`kid` naming the attacker's server, signed with the attacker's key."""
    from joserfc import jwt
    from joserfc.jwk import RSAKey

    hits = []

    class Attacker(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            hits.append(self.path)
            self.send_response(404)
            self.end_headers()

    attacker = ThreadingHTTPServer(("127.0.0.1", free_port()), Attacker)
    threading.Thread(target=attacker.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{attacker.server_address[1]}/keys"
    key = RSAKey.generate_key(2048, parameters={"kid": url})
    original = fake_provider.id_token

    def forged(*, nonce):
        claims = jwt.decode(original(nonce=nonce), fake_provider.key).claims
        return jwt.encode({"alg": "RS256", "kid": url, "jku": url, "x5u": url}, claims, key)

    fake_provider.id_token = forged
    try:
        response = fake_log_in(client)
    finally:
        attacker.shutdown()
        attacker.server_close()

    assert response.status_code == 403 and b'data-reason="id_token"' in response.content
    assert hits == []
    assert requests.get(fake_provider.issuer + "/jwks", timeout=5).status_code == 200


def test_e_mail_that_only_the_database_folds_to_a_local_address_does_not_link(
    client, oidc_provider, settings
):
    """PostgreSQL's UPPER() makes the dotless `ı` an `I`: `victim@ımail.example` (a domain the
    attacker can own, its address verified at the provider) matched `victim@imail.example`
    through `email__iexact`, and linking by e-mail handed over the account."""
    settings.LOCKER_OIDC_LINK_BY_EMAIL = True
    victim = make_user("victim", email="victim@imail.example")
    oidc_provider.account("mallory", groups=["locker"], email="victim@ımail.example")

    response = sso_log_in(client, oidc_provider, "mallory")

    assert response.status_code == 403 and b'data-reason="email_taken"' in response.content
    assert not OidcIdentity.objects.filter(user=victim).exists()


def test_a_subject_longer_than_255_characters_is_not_cut_into_another_users(client, oidc_provider):
    """`sub` is at most 255 characters (OpenID Connect Core 2); cut there, two subjects that
    share their first 255 characters would be one Locker account."""
    first = "s" * 255
    oidc_provider.account(first, groups=["locker"], email="first@example.org")
    sso_log_in(client, oidc_provider, first)
    client.logout()
    oidc_provider.browser.cookies.clear()
    oidc_provider.account(first + "-other", groups=["locker"], email="other@example.org")

    response = sso_log_in(client, oidc_provider, first + "-other")

    assert response.status_code == 403 and b'data-reason="no_subject"' in response.content
    assert client.get("/accounts/profile/").status_code == 302


def test_an_old_local_password_does_not_stand_in_for_a_fresh_sso_log_in(
    client, oidc_provider, settings
):
    """LOCKER_PASSWORD_LOGIN=none: alice's account was linked to SSO and still has the local
    password of before. Whoever holds her session (an unattended laptop) and knows that old
    password confirms it on a two-factor page and would then create an API token without
    the fresh log-in at the provider."""
    from accounts import twofactor

    settings.LOCKER_PASSWORD_LOGIN = "none"
    settings.LOCKER_OIDC_LINK_BY_EMAIL = True
    alice = make_user("alice", email="ann@example.org")
    oidc_provider.account("ann", groups=["locker"])
    sso_log_in(client, oidc_provider, "ann")
    session = client.session
    session[twofactor.PASSWORD_AT_KEY] = time.time() - 3600  # the log-in is an hour old
    session.save()

    client.post("/accounts/2fa/disable/", {"password": "alice-password-1"})
    client.post("/accounts/reauthenticate/", {"password": "alice-password-1"})
    response = client.post("/accounts/tokens/", {"name": "backdoor"})

    assert response.status_code == 302 and "reauth=1" in response["Location"]
    assert not alice.api_tokens.exists()


# --- Guards that hold (kept as tests so that they keep holding) ------------------------------


def test_a_user_deleted_at_the_provider_is_logged_out_at_the_re_check(
    client, oidc_provider, settings
):
    settings.LOCKER_OIDC_RECHECK_SECONDS = 0
    oidc_provider.account("ann", groups=["locker"])
    sso_log_in(client, oidc_provider, "ann")
    del oidc_provider.accounts["ann"]
    oidc_provider._write()

    response = client.get("/api/v1/me/")

    assert (
        response.status_code == 401
        and "single sign-on session has ended" in response.json()["detail"]
    )
    assert client.get("/accounts/profile/").status_code == 302


@pytest.mark.parametrize(
    "next_url",
    [
        "//evil.example/",
        "/\\evil.example/",
        "https:evil.example",
        "\t//evil.example",
        "http://testserver@evil.example/",
        "javascript:alert(1)",
    ],
)
def test_next_after_sso_log_in_never_leads_off_site(client, fake_provider, next_url):
    from urllib.parse import quote

    start = client.get("/accounts/oidc/login/?next=" + quote(next_url, safe=""))
    answer = requests.get(start["Location"], allow_redirects=False, timeout=10)

    back = client.get(answer.headers["Location"].removeprefix("http://testserver"))

    assert back.status_code == 302 and back["Location"] == "/"


def test_logout_of_an_sso_session_ignores_next_and_returns_to_the_login_page(client, oidc_provider):
    oidc_provider.account("ann", groups=["locker"])
    sso_log_in(client, oidc_provider, "ann")

    response = client.post("/accounts/logout/", {"next": "https://evil.example/"})

    page = response.content.decode()
    assert "evil.example" not in page
    assert "post_logout_redirect_uri=http%3A%2F%2Ftestserver%2Faccounts%2Flogin%2F" in page


def test_password_sessions_from_before_sso_only_end_when_password_log_in_is_switched_off(
    client, oidc_provider, settings, alice, staff
):
    """The administrator switches to LOCKER_PASSWORD_LOGIN=none (or staff): sessions opened
    with a local password before must not go on for weeks, past the provider's groups."""
    assert (
        client.post(
            "/accounts/login/", {"username": "alice", "password": "alice-password-1"}
        ).status_code
        == 302
    )
    api = type(client)()
    api.force_login(alice)
    root = type(client)()
    assert (
        root.post(
            "/accounts/login/", {"username": "root", "password": "root-password-1"}
        ).status_code
        == 302
    )

    settings.LOCKER_PASSWORD_LOGIN = "staff"

    assert client.get("/accounts/profile/")["Location"].startswith("/accounts/login/")
    refused = api.get("/api/v1/me/")
    assert refused.status_code == 401 and "single sign-on" in refused.json()["detail"]
    assert root.get("/accounts/profile/").status_code == 200  # staff: the break-glass way in
    ended = AuditEvent.objects.filter(action="sso.session_ended").latest("pk")
    assert ended.extra == {"reason": "password_login_off"}


# --- Fresh log-in before creating an API token -----------------------------------------------


def _old_log_in(client) -> None:
    from accounts import twofactor

    session = client.session
    session[twofactor.PASSWORD_AT_KEY] = time.time() - 3600  # the log-in is an hour old
    session.save()


def test_api_token_creation_through_the_api_wants_a_fresh_sso_log_in(client, oidc_provider):
    oidc_provider.account("ann", groups=["locker"])
    sso_log_in(client, oidc_provider, "ann")
    _old_log_in(client)

    response = client.post("/api/v1/tokens/", {"name": "script"}, content_type="application/json")

    assert response.status_code == 403 and response.json()["detail"]
    assert not User.objects.get(username="ann").api_tokens.exists()


def test_a_provider_that_ignores_prompt_login_does_not_confirm(client, fake_provider):
    assert fake_log_in(client).status_code == 302
    _old_log_in(client)
    # The provider answers the re-authentication with the time of the old log-in.
    fake_provider.extra_claims = {"auth_time": int(time.time()) - 3600}

    start = client.get("/accounts/oidc/login/?reauth=1&next=/accounts/tokens/")
    answer = requests.get(start["Location"], allow_redirects=False, timeout=10)
    response = client.get(answer.headers["Location"].removeprefix("http://testserver"))

    assert response.status_code == 403 and b'data-reason="not_fresh"' in response.content
    created = client.post("/accounts/tokens/", {"name": "script"})
    assert "reauth=1" in created["Location"]


def test_an_auth_time_in_the_future_does_not_count_as_recent_for_long(
    client, fake_provider, settings
):
    """A provider whose clock is a day ahead (or that says so): its auth_time, taken as the
    time the password was typed, would make every token creation 'recent' for a day."""
    settings.LOCKER_REAUTH_MINUTES = 0  # nothing is recent
    fake_provider.extra_claims = {"auth_time": int(time.time()) + 86400}
    assert fake_log_in(client).status_code == 302

    response = client.post("/accounts/tokens/", {"name": "script"})

    assert response.status_code == 302 and "reauth=1" in response["Location"]
    assert not User.objects.get(username="frank").api_tokens.exists()


def test_ten_kilobyte_claims_make_a_valid_account(client, oidc_provider):
    oidc_provider.account(
        "ann", groups=["locker", "g" * 10240], name="N" * 10240, email="ann@example.org"
    )

    response = sso_log_in(client, oidc_provider, "ann")

    assert response.status_code == 302
    user = User.objects.get(username="ann")
    assert len(user.display_name) == 150
    assert client.get("/accounts/profile/").status_code == 200


def test_log_ins_started_while_the_provider_hangs_do_not_each_wait_for_it(client, settings):
    """The discovery document is not cached yet and the provider hangs: an outsider reloading
    /accounts/oidc/login/ would hold a worker LOCKER_OIDC_TIMEOUT each time."""
    hanging = _Hanging()
    sso_settings(settings, hanging.url)
    settings.LOCKER_OIDC_TIMEOUT = 1
    try:
        answers = [client.get("/accounts/oidc/login/") for _ in range(3)]
    finally:
        hanging.stop()

    assert [a.status_code for a in answers] == [503, 503, 503]
    assert all(a["Retry-After"] == "60" for a in answers)
    assert len(hanging.connections) == 1


def test_two_log_ins_in_two_tabs_finish_in_any_order_each_once(client, fake_provider):
    first = client.get("/accounts/oidc/login/?next=/accounts/profile/")
    second = client.get("/accounts/oidc/login/?next=/accounts/tokens/")
    callbacks = [
        requests.get(start["Location"], allow_redirects=False, timeout=10)
        .headers["Location"]
        .removeprefix("http://testserver")
        for start in (first, second)
    ]

    assert client.get(callbacks[1])["Location"] == "/accounts/tokens/"
    assert client.get(callbacks[0])["Location"] == "/accounts/profile/"
    assert client.get(callbacks[1]).status_code == 403  # each state once
    assert User.objects.filter(username="frank").count() == 1


def test_preferred_username_admin_gets_its_own_account(client, oidc_provider):
    admin = make_user("Admin", is_staff=True, is_superuser=True)
    oidc_provider.account("admin", groups=["locker"], email="someone@example.org")

    response = sso_log_in(client, oidc_provider, "admin")

    assert response.status_code == 302
    sso_user = OidcIdentity.objects.get(subject="admin").user
    assert sso_user != admin and sso_user.username.startswith("admin-")
    assert not sso_user.is_staff and not sso_user.is_superuser


def test_e_mail_differing_only_in_ascii_case_still_links(client, oidc_provider, settings):
    settings.LOCKER_OIDC_LINK_BY_EMAIL = True
    alice = make_user("alice", email="ann@example.org")
    oidc_provider.account("ann", groups=["locker"], email="ANN@Example.ORG")

    assert sso_log_in(client, oidc_provider, "ann").status_code == 302

    assert OidcIdentity.objects.get(subject="ann").user == alice


def test_google_account_outside_the_workspace_is_refused_by_the_domain_list(settings):
    """Google: a personal account made with (or keeping) a verified address at the company's
    domain, e.g. by someone who left, has no `hd` claim; only Workspace accounts of the domain
    have it. (Google cannot be run here: the claims are given as its ID token would carry
    them, after the token checks.)"""
    from accounts.oidc import OidcRefused, identity_login

    settings.LOCKER_OIDC_ISSUER = "https://accounts.google.com"
    settings.LOCKER_OIDC_ALLOWED_GROUPS = []
    settings.LOCKER_OIDC_ALLOWED_DOMAINS = ["example.org"]
    claims = {"sub": "1084", "email": "leaver@example.org", "email_verified": True}

    with pytest.raises(OidcRefused) as refused:
        identity_login(claims=claims)

    assert refused.value.reason == "domain"
    assert identity_login(claims={**claims, "hd": "example.org"}).email == "leaver@example.org"


def test_forged_callbacks_from_a_network_do_not_block_its_real_log_ins(client, oidc_provider):
    """Any web page a victim opens can make their browser send forged callbacks
    (`<img src=…/accounts/oidc/callback/?state=x>`, no cookie goes with them); 30 of them must
    not lock the whole office behind the same address out of single sign-on."""
    from django.test import Client

    attacker = Client()
    for _ in range(31):
        attacker.get("/accounts/oidc/callback/?code=x&state=forged")
    assert attacker.get("/accounts/oidc/callback/?code=x&state=forged").status_code == 429
    oidc_provider.account("ann", groups=["locker"])

    response = sso_log_in(client, oidc_provider, "ann")

    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/accounts/profile/").status_code == 200


def test_one_users_oversized_profile_does_not_stop_the_re_check_of_others(
    client, oidc_provider, settings
):
    """ann, removed from the group, makes her own profile at the provider larger than Locker
    reads (512 KiB) so that her re-check never concludes (an unreadable answer otherwise counts
    as an outage: the session goes on). Her session ends; and it must not pass for the
    provider being down and spare everyone else's re-check."""
    from django.test import Client

    settings.LOCKER_OIDC_RECHECK_SECONDS = 0
    oidc_provider.account("ann", groups=["locker"])
    oidc_provider.account("bea", groups=["locker"])
    sso_log_in(client, oidc_provider, "ann")
    bea = Client()
    oidc_provider.browser.cookies.clear()
    sso_log_in(bea, oidc_provider, "bea")
    oidc_provider.account("ann", groups=[], name="N" * (600 * 1024))
    oidc_provider.account("bea", groups=[])

    assert client.get("/accounts/profile/")["Location"] == "/accounts/login/?sso_ended=1"
    ended = AuditEvent.objects.filter(action="sso.session_ended").get()
    assert ended.extra == {"reason": "userinfo_too_large"}

    assert bea.get("/accounts/profile/")["Location"] == "/accounts/login/?sso_ended=1"
