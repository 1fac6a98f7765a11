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
