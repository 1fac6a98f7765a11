from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiToken

pytestmark = pytest.mark.django_db


def run(*args) -> list[str]:
    out = StringIO()
    call_command("createapitoken", *args, stdout=out)
    return out.getvalue().splitlines()


def test_prints_a_working_token_as_the_last_line(alice):
    secret = run("alice", "--name", "curl")[-1]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert client.get("/api/v1/me/").json()["username"] == "alice"
    token = ApiToken.objects.get(user=alice, name="curl")
    assert token.expires_at is None


def test_expires_in_sets_the_expiry(alice):
    run("alice", "--expires-in", "30d")
    token = ApiToken.objects.get(user=alice)
    assert timedelta(days=29, hours=23) < token.expires_at - timezone.now() <= timedelta(days=30)


def test_unknown_user_is_an_error(db):
    with pytest.raises(CommandError, match="No user"):
        run("nobody")


def test_bad_duration_is_an_error(alice):
    with pytest.raises(CommandError, match="duration"):
        run("alice", "--expires-in", "soon")
    assert not ApiToken.objects.exists()
