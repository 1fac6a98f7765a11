import pytest


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """The users fixtures set passwords; a fast hasher keeps these tests about files."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
