import pytest

from tests.fixtures.users import make_user

pytestmark = pytest.mark.django_db

PROFILE = "/accounts/profile/"


def test_profile_saves_display_name_and_email(alice_client, alice):
    response = alice_client.post(
        PROFILE, {"display_name": "Alice A.", "email": "alice@new.example"}
    )
    assert response.status_code == 302
    alice.refresh_from_db()
    assert (alice.display_name, alice.email) == ("Alice A.", "alice@new.example")


def test_email_of_another_account_is_refused_next_to_the_field(alice_client, alice, bob):
    response = alice_client.post(PROFILE, {"display_name": "A", "email": "BOB@example.com"})
    assert response.status_code == 200
    assert response.context["form"].errors["email"]
    alice.refresh_from_db()
    assert alice.email == "alice@example.com"


def test_invalid_email_is_refused(alice_client):
    response = alice_client.post(PROFILE, {"display_name": "A", "email": "not an address"})
    assert response.context["form"].errors["email"]


def test_profile_shows_usage_against_quota_in_readable_sizes(client, db):
    user = make_user("dora", quota_bytes=10 * 1024**3, used_bytes=512 * 1024**2)
    client.force_login(user)
    page = client.get(PROFILE).content.decode()
    assert "512 MiB used of 10 GiB" in page
    assert "(5%)" in page


def test_profile_says_unlimited_when_quota_is_zero(client, db):
    user = make_user("erin", quota_bytes=0, used_bytes=2048)
    client.force_login(user)
    page = client.get(PROFILE).content.decode()
    assert "2 KiB used; your storage is unlimited" in page


def test_display_name_is_escaped(alice_client, alice):
    alice_client.post(PROFILE, {"display_name": "<script>x()</script>", "email": alice.email})
    page = alice_client.get(PROFILE).content.decode()
    assert "<script>x()" not in page
    assert "&lt;script&gt;x()" in page
