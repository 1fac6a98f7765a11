"""Log-in with an LDAP directory (accounts.ldap) against Debian's slapd started by the tests
(tests/fixtures/slapd.py): through the real log-in form, over StartTLS or LDAPS with the test
CA, and the attacks (filter injection, empty password, wrong CA, taking over a local account)."""

import socket
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.contrib.auth import authenticate
from django.test import RequestFactory

from accounts.models import AuditEvent, User
from accounts.twofactor import PASSWORD_AT_KEY
from tests.fixtures.slapd import (
    ADMINS_GROUP,
    PEOPLE,
    SERVICE_PASSWORD,
    USERS_GROUP,
    free_port,
    password_of,
    person_dn,
)

pytestmark = pytest.mark.django_db

REPO = Path(__file__).resolve().parents[2]
LOGIN = "/accounts/login/"
BAD_CREDENTIALS = "Please enter a correct username and password"
UNREACHABLE = "The directory is unreachable"
NOT_ALLOWED = "Your directory account is not allowed to use Locker"


@contextmanager
def removed_from(directory, group: str, uid: str):
    directory.group_remove(group, person_dn(uid))
    try:
        yield
    finally:
        directory.group_add(group, person_dn(uid))


def log_in(client, username: str, password: str):
    return client.post(LOGIN, {"username": username, "password": password})


def logged_in_as(client) -> User | None:
    user_id = client.session.get("_auth_user_id")
    return User.objects.get(pk=user_id) if user_id else None


def test_first_log_in_through_the_form_creates_the_user_from_the_directory(client, ldap_on):
    response = log_in(client, "ada", password_of("ada"))
    assert response.status_code == 302
    user = logged_in_as(client)
    assert user.username == "ada"
    assert user.email == "ada@example.org"
    assert user.display_name == "Ada Lovelace"
    assert user.ldap_dn == person_dn("ada")
    assert not user.has_usable_password()  # the directory's password is never stored
    assert User.objects.filter(username="ada").count() == 1
    actions = list(AuditEvent.objects.filter(subject=user).values_list("action", "extra"))
    assert ("user.created", {"source": "ldap"}) in actions
    assert ("login.success", {"source": "ldap"}) in actions


def test_each_log_in_updates_name_and_email_and_never_creates_a_second_account(
    client, ldap_on, directory
):
    log_in(client, "bea", password_of("bea"))
    directory.modify(person_dn("bea"), {"mail": [("MODIFY_REPLACE", ["bea.new@example.org"])]})
    try:
        client.logout()
        assert log_in(client, "bea", password_of("bea")).status_code == 302
    finally:
        directory.modify(person_dn("bea"), {"mail": [("MODIFY_REPLACE", ["bea@example.org"])]})
    user = User.objects.get(ldap_dn=person_dn("bea"))
    assert user.email == "bea.new@example.org"
    assert User.objects.filter(username__iexact="bea").count() == 1


def test_staff_group_makes_staff_and_is_read_again_at_each_log_in(client, ldap_on, directory):
    log_in(client, "ada", password_of("ada"))
    assert logged_in_as(client).is_staff
    client.logout()
    log_in(client, "bea", password_of("bea"))
    assert not logged_in_as(client).is_staff
    client.logout()
    with removed_from(directory, ADMINS_GROUP, "ada"):
        assert log_in(client, "ada", password_of("ada")).status_code == 302
        assert not logged_in_as(client).is_staff
    assert AuditEvent.objects.filter(action="user.staff_changed", extra__is_staff=False).exists()


def test_a_directory_user_outside_the_required_group_is_refused(client, ldap_on):
    response = log_in(client, "cyd", password_of("cyd"))
    assert response.status_code == 200
    assert NOT_ALLOWED in response.content.decode()
    assert logged_in_as(client) is None
    assert not User.objects.filter(username="cyd").exists()
    failure = AuditEvent.objects.get(action="login.failure", target_label="cyd")
    assert failure.extra == {"ldap": "not in the required group"}


def test_removed_from_the_required_group_the_next_log_in_is_refused(client, ldap_on, directory):
    assert log_in(client, "bea", password_of("bea")).status_code == 302
    client.logout()
    with removed_from(directory, USERS_GROUP, "bea"):
        response = log_in(client, "bea", password_of("bea"))
        assert response.status_code == 200
        assert NOT_ALLOWED in response.content.decode()
        assert logged_in_as(client) is None


def test_a_wrong_directory_password_is_refused_and_audited(client, ldap_on):
    response = log_in(client, "ada", "not-her-password")
    assert response.status_code == 200
    assert BAD_CREDENTIALS in response.content.decode()
    assert logged_in_as(client) is None
    assert AuditEvent.objects.filter(action="login.failure", target_label="ada").exists()


def test_an_empty_password_is_never_sent_as_an_unauthenticated_bind(ldap_on):
    request = RequestFactory().post(LOGIN)
    assert authenticate(request, username="ada", password="") is None
    assert not User.objects.filter(username="ada").exists()


@pytest.mark.parametrize(
    "username",
    ["*", "a*", "ada)(uid=*", "*)(uid=*))(|(uid=*", "ada)(|(objectClass=*)", "ad\\2a"],
)
def test_filter_injection_in_the_username_matches_nobody(client, ldap_on, username):
    # With ada's password: a wildcard or an extra clause must not find her entry.
    response = log_in(client, username, password_of("ada"))
    assert response.status_code == 200
    assert logged_in_as(client) is None
    assert not User.objects.exists()


def test_filter_characters_in_a_real_name_match_only_themselves(ldap_on):
    request = RequestFactory().post(LOGIN)
    assert authenticate(request, username="star*", password=password_of("ada")) is None
    user = authenticate(request, username="star*", password=password_of("star*"))
    assert user is not None and user.email == "star@example.org"


def test_ldaps_with_the_right_ca_works(client, ldap_on, directory):
    ldap_on.LOCKER_LDAP_URL = directory.ldaps_url
    ldap_on.LOCKER_LDAP_START_TLS = False
    assert log_in(client, "ada", password_of("ada")).status_code == 302


@pytest.mark.parametrize("transport", ["starttls", "ldaps"])
def test_a_server_certificate_from_another_ca_is_refused(client, ldap_on, directory, transport):
    if transport == "ldaps":
        ldap_on.LOCKER_LDAP_URL = directory.ldaps_url
        ldap_on.LOCKER_LDAP_START_TLS = False
    ldap_on.LOCKER_LDAP_CA_FILE = directory.other_ca_file
    response = log_in(client, "ada", password_of("ada"))
    assert response.status_code == 200
    assert UNREACHABLE in response.content.decode()
    assert logged_in_as(client) is None
    event = AuditEvent.objects.get(action="ldap.unreachable")
    assert "CERTIFICATE_VERIFY_FAILED" in event.extra["error"]


def test_a_server_certificate_for_another_name_is_refused(client, ldap_on, directory):
    # The certificate names 127.0.0.1 and localhost, not the address this URL uses.
    ldap_on.LOCKER_LDAP_URL = directory.misnamed_ldaps_url
    ldap_on.LOCKER_LDAP_START_TLS = False
    response = log_in(client, "ada", password_of("ada"))
    assert logged_in_as(client) is None
    assert UNREACHABLE in response.content.decode()
    event = AuditEvent.objects.get(action="ldap.unreachable")
    assert "certificate is not valid for" in event.extra["error"]


def test_directory_down_gives_a_clear_error_and_local_staff_still_log_in(client, ldap_on, staff):
    ldap_on.LOCKER_LDAP_URL = f"ldap://127.0.0.1:{free_port()}"  # nothing listens there
    response = log_in(client, "ada", password_of("ada"))
    assert response.status_code == 200
    assert UNREACHABLE in response.content.decode()
    assert AuditEvent.objects.filter(action="ldap.unreachable", target_label="ada").exists()
    failure = AuditEvent.objects.get(action="login.failure", target_label="ada")
    assert failure.extra == {"ldap": "directory unreachable"}
    assert log_in(client, "root", "root-password-1").status_code == 302
    assert logged_in_as(client) == staff


def test_a_directory_that_never_answers_gives_the_same_clear_error(client, ldap_on):
    # A listening socket nobody reads: the connection is made, no answer ever comes.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        ldap_on.LOCKER_LDAP_URL = f"ldap://127.0.0.1:{silent.getsockname()[1]}"
        ldap_on.LOCKER_LDAP_TIMEOUT = 1
        response = log_in(client, "ada", password_of("ada"))
    assert response.status_code == 200
    assert UNREACHABLE in response.content.decode()
    assert logged_in_as(client) is None


def test_a_wrong_service_account_password_reads_as_unreachable(client, ldap_on):
    ldap_on.LOCKER_LDAP_BIND_PASSWORD = "not-the-service-password"
    response = log_in(client, "ada", password_of("ada"))
    assert UNREACHABLE in response.content.decode()
    assert logged_in_as(client) is None


def test_a_local_account_of_the_same_name_is_not_taken_over(client, ldap_on):
    from tests.fixtures.users import make_user

    local = make_user("bea", email="bea.local@example.com")
    response = log_in(client, "bea", password_of("bea"))
    assert logged_in_as(client) is None
    assert BAD_CREDENTIALS in response.content.decode()
    assert log_in(client, "bea", "bea-password-1").status_code == 302
    local.refresh_from_db()
    assert local.ldap_dn == "" and local.has_usable_password()


def test_an_email_already_used_by_a_local_account_refuses_the_directory_log_in(client, ldap_on):
    from tests.fixtures.users import make_user

    make_user("someone", email="ADA@example.org")
    response = log_in(client, "ada", password_of("ada"))
    assert logged_in_as(client) is None
    assert "cannot be matched to a Locker account" in response.content.decode()


def test_ldap_failures_count_towards_the_lockout(client, ldap_on):
    for _ in range(5):
        log_in(client, "ada", "wrong guess")
    response = log_in(client, "ada", password_of("ada"))
    assert response.status_code == 429
    assert logged_in_as(client) is None


def test_an_api_token_for_a_directory_user_needs_the_directory_password_again(client, ldap_on):
    log_in(client, "ada", password_of("ada"))
    session = client.session
    del session[PASSWORD_AT_KEY]  # as if she had logged in long ago
    session.save()
    refused = client.post("/api/v1/tokens/", {"name": "laptop"}, content_type="application/json")
    assert refused.status_code == 403
    wrong = client.post("/accounts/reauthenticate/", {"password": "not-her-password"})
    assert "This password is not correct" in wrong.content.decode()
    again = client.post("/accounts/reauthenticate/", {"password": password_of("ada")})
    assert again.status_code == 302
    created = client.post("/api/v1/tokens/", {"name": "laptop"}, content_type="application/json")
    assert created.status_code == 201
    assert created.json()["token"]


def test_re_authentication_while_the_directory_is_down_says_so(client, ldap_on):
    log_in(client, "ada", password_of("ada"))
    ldap_on.LOCKER_LDAP_URL = f"ldap://127.0.0.1:{free_port()}"
    response = client.post("/accounts/reauthenticate/", {"password": password_of("ada")})
    assert response.status_code == 200
    assert UNREACHABLE in response.content.decode()


def test_a_directory_user_has_no_local_password_to_change(client, ldap_on):
    log_in(client, "ada", password_of("ada"))
    profile = client.get("/accounts/profile/").content.decode()
    assert "directory (LDAP) password" in profile
    assert "/accounts/password_change/" not in profile
    page = client.get("/accounts/password_change/").content.decode()
    assert "directory (LDAP) password" in page and "new_password1" not in page
    api = client.post(
        "/api/v1/me/password/",
        {"current_password": password_of("ada"), "new_password": "a-new-long-password-42"},
        content_type="application/json",
    )
    assert api.status_code == 403
    assert "directory (LDAP)" in api.json()["detail"]
    assert not User.objects.get(username="ada").has_usable_password()


def test_a_directory_user_with_two_factor_still_owes_the_code(client, ldap_on):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from tests.accounts.twofactor_helpers import totp_code

    log_in(client, "ada", password_of("ada"))
    user = logged_in_as(client)
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    client.logout()
    response = log_in(client, "ada", password_of("ada"))
    assert response.status_code == 302 and response["Location"] == "/accounts/login/code/"
    assert logged_in_as(client) is None
    done = client.post("/accounts/login/code/", {"code": totp_code(device)})
    assert done.status_code == 302
    assert logged_in_as(client) == user


# --- Settings, read by a fresh process as at start-up -----------------------------------------


def _settings_process(tmp_path, code: str, **env_vars):
    env = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "locker.settings",
        "LOCKER_DATA_DIR": str(tmp_path / "data"),
        "LOCKER_ENV_FILE": "",
        **env_vars,
    }
    return subprocess.run(
        [sys.executable, "-c", "from django.conf import settings as s;" + code],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )


def test_ldap_is_off_unless_its_url_is_set(tmp_path):
    done = _settings_process(tmp_path, "print(s.AUTHENTICATION_BACKENDS)")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "LdapBackend" not in done.stdout


def test_the_service_password_is_read_from_its_file_and_the_backend_comes_last(tmp_path):
    (tmp_path / "bind").write_text(SERVICE_PASSWORD + "\n")
    done = _settings_process(
        tmp_path,
        "print(s.LOCKER_LDAP_BIND_PASSWORD); print(s.AUTHENTICATION_BACKENDS[-2:])",
        LOCKER_LDAP_URL="ldaps://ldap.example.org",
        LOCKER_LDAP_USER_BASE=PEOPLE,
        LOCKER_LDAP_BIND_PASSWORD_FILE=str(tmp_path / "bind"),
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines() == [
        SERVICE_PASSWORD,
        "['django.contrib.auth.backends.ModelBackend', 'accounts.ldap.LdapBackend']",
    ]


@pytest.mark.parametrize(
    ("env_vars", "sentence"),
    [
        ({"LOCKER_LDAP_URL": "http://ldap.example.org"}, "must start with ldap:// or ldaps://"),
        ({"LOCKER_LDAP_URL": "ldap://ldap.example.org"}, "LOCKER_LDAP_USER_BASE must be set"),
        (
            {"LOCKER_LDAP_USER_FILTER": "(uid=%(username)s)"},
            "LOCKER_LDAP_USER_FILTER must hold %(user)s once",
        ),
        (
            {"LOCKER_LDAP_URL": "ldaps://ldap.example.org", "LOCKER_LDAP_START_TLS": "true"},
            "an ldaps:// URL is already encrypted",
        ),
        ({"LOCKER_LDAP_CA_FILE": "/nowhere/ca.pem"}, "cannot be read"),
    ],
)
def test_a_wrong_ldap_setting_stops_the_start_with_a_sentence(tmp_path, env_vars, sentence):
    base = {"LOCKER_LDAP_URL": "ldap://ldap.example.org", "LOCKER_LDAP_USER_BASE": PEOPLE}
    if "LOCKER_LDAP_USER_BASE must be set" in sentence:
        base.pop("LOCKER_LDAP_USER_BASE")
    done = _settings_process(tmp_path, "s.SECRET_KEY", **{**base, **env_vars})
    assert done.returncode != 0
    assert sentence in done.stderr
