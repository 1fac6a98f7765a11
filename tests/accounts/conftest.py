import pytest
from django.test import override_settings


@pytest.fixture(autouse=True, scope="package")
def fast_password_hasher():
    """Real hashing costs ~0.3 s a password; these tests are about behaviour, not key stretching."""
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield


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
    return client


@pytest.fixture(autouse=True)
def reset_account_throttles():
    """The cache may be Redis (CI), which outlives each test's transaction."""
    yield
    from accounts.throttles import BAD_LINK_THROTTLE, EMAIL_REQUEST_THROTTLE

    for throttle in (BAD_LINK_THROTTLE, EMAIL_REQUEST_THROTTLE):
        throttle.reset("127.0.0.1")
