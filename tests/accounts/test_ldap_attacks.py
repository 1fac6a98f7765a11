"""Attacks on the LDAP log-in (accounts.ldap) from outside, against Debian's slapd started by the
tests (tests/fixtures/slapd.py) and the real log-in form: each test is one attack that worked
before its fix (see docs/sso-ldap.md)."""

from pathlib import Path

import pytest
from axes.models import AccessAttempt

from accounts.models import User
from tests.fixtures.slapd import (
    ADMINS_GROUP,
    PEOPLE,
    SERVICE_DN,
    SERVICE_PASSWORD,
    SLAPD,
    USERS_GROUP,
    Slapd,
    password_of,
)

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"
BAD_CREDENTIALS = "Please enter a correct username and password"


@pytest.fixture(scope="module")
def directory(tmp_path_factory):
    if not Path(SLAPD).exists():  # in CI a skip is a failure (tests/testenv.py)
        pytest.skip("the LDAP tests need slapd: apt-get install slapd ldap-utils")
    with Slapd(tmp_path_factory.mktemp("ldap")) as server:
        yield server


@pytest.fixture
def ldap_on(settings, directory):
    """LDAP over StartTLS with the test CA, users in lockerusers, staff in lockeradmins."""
    settings.LOCKER_LDAP_URL = directory.ldap_url
    settings.LOCKER_LDAP_START_TLS = True
    settings.LOCKER_LDAP_CA_FILE = directory.ca_file
    settings.LOCKER_LDAP_BIND_DN = SERVICE_DN
    settings.LOCKER_LDAP_BIND_PASSWORD = SERVICE_PASSWORD
    settings.LOCKER_LDAP_USER_BASE = PEOPLE
    settings.LOCKER_LDAP_USER_FILTER = "(&(objectClass=inetOrgPerson)(uid=%(user)s))"
    settings.LOCKER_LDAP_REQUIRE_GROUP = USERS_GROUP
    settings.LOCKER_LDAP_STAFF_GROUP = ADMINS_GROUP
    settings.AUTHENTICATION_BACKENDS = [
        *settings.AUTHENTICATION_BACKENDS,
        "accounts.ldap.LdapBackend",
    ]
    return settings


def log_in(client, username: str, password: str):
    return client.post(LOGIN, {"username": username, "password": password})


def logged_in_as(client) -> User | None:
    user_id = client.session.get("_auth_user_id")
    return User.objects.get(pk=user_id) if user_id else None


# --- Lock-out ---------------------------------------------------------------------------------


def test_case_variants_of_a_directory_name_share_one_lockout(client, ldap_on):
    # The directory matches uid case-insensitively: "ada", "Ada", "ADA"... are one account, so
    # each variant must not get its own five guesses.
    for variant in ["ada", "Ada", "aDa", "adA"]:
        assert BAD_CREDENTIALS in log_in(client, variant, "wrong guess").content.decode()
    assert log_in(client, "ADA", "wrong guess").status_code == 429  # the fifth failure locks
    response = log_in(client, "AdA", password_of("ada"))
    assert response.status_code == 429
    assert logged_in_as(client) is None


def test_unicode_variants_of_a_directory_name_share_one_lockout(client, ldap_on):
    # Full-width letters (NFKC) and spaces the directory ignores are the same name again.
    for variant in ["ada", "ａｄａ", "ＡＤＡ", "Ａda", "aＤa"]:
        log_in(client, variant, "wrong guess")
    assert log_in(client, "ADA", password_of("ada")).status_code == 429


def test_a_very_long_username_is_refused_without_an_error_page(client, ldap_on):
    response = log_in(client, "a" * 5000, "some password")
    assert response.status_code == 200
    assert BAD_CREDENTIALS in response.content.decode()
    assert all(len(a.username) <= 255 for a in AccessAttempt.objects.all())
