import pytest


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
