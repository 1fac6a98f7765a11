from pathlib import Path

import pytest

from tests.fixtures.slapd import (
    ADMINS_GROUP,
    PEOPLE,
    SERVICE_DN,
    SERVICE_PASSWORD,
    SLAPD,
    USERS_GROUP,
    Slapd,
)


@pytest.fixture
def signup_open(settings):
    settings.LOCKER_SIGNUP = True


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    fresh_password(client)
    return client


def fresh_password(client):
    """As if the user had just typed their password (needed to create tokens on the web)."""
    import time

    from accounts.twofactor import PASSWORD_AT_KEY

    session = client.session
    session[PASSWORD_AT_KEY] = time.time()
    session.save()


@pytest.fixture(autouse=True)
def reset_account_throttles():
    """The cache may be Redis (CI), which outlives each test's transaction."""
    yield
    from accounts.throttles import BAD_LINK_THROTTLE, EMAIL_REQUEST_THROTTLE

    for throttle in (BAD_LINK_THROTTLE, EMAIL_REQUEST_THROTTLE):
        throttle.reset("127.0.0.1")


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
