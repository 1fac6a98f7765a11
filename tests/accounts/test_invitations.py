import re
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from accounts.models import Invitation, User, hash_secret

pytestmark = pytest.mark.django_db

INVITE = "/accounts/invite/"


def invite(staff_client, username="newbie", email="newbie@example.com"):
    return staff_client.post(INVITE, {"username": username, "email": email})


def invitation_path() -> str:
    return re.search(r"https?://\S+(/accounts/invitation/[^/\s]+/)", mail.outbox[-1].body).group(1)


def test_invite_page_is_staff_only(alice_client):
    assert alice_client.get(INVITE).status_code == 403
    assert invite(alice_client).status_code == 403
    assert not User.objects.filter(username="newbie").exists()


def test_invitation_creates_a_passwordless_user_and_mails_a_link(staff_client, settings):
    settings.LOCKER_BASE_URL = "https://locker.example.org"
    response = invite(staff_client)
    assert response.status_code == 302
    user = User.objects.get(username="newbie")
    assert not user.has_usable_password()
    assert mail.outbox[-1].to == ["newbie@example.com"]
    assert "https://locker.example.org/accounts/invitation/" in mail.outbox[-1].body
    token = invitation_path().split("/")[-2]
    invitation = Invitation.objects.get(user=user)
    assert invitation.token_hash == hash_secret(token)
    assert token not in invitation.token_hash
    days = (invitation.expires_at - timezone.now()).total_seconds() / 86400
    assert round(days) == settings.LOCKER_INVITATION_DAYS


def test_inviting_an_existing_address_is_refused_next_to_the_field(staff_client, alice):
    response = invite(staff_client, username="other", email="Alice@Example.com")
    assert response.status_code == 200
    assert response.context["form"].errors["email"]
    assert not mail.outbox


def test_accepting_an_invitation_sets_the_password_and_logs_in(client, staff_client):
    invite(staff_client)
    staff_client.post("/accounts/logout/")
    path = invitation_path()
    page = client.get(path)
    assert page.status_code == 200
    assert page["Referrer-Policy"] == "no-referrer"
    response = client.post(
        path, {"new_password1": "invited secret 42", "new_password2": "invited secret 42"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/accounts/profile/"
    assert User.objects.get(username="newbie").check_password("invited secret 42")
    assert client.get("/accounts/profile/").context["user"].username == "newbie"


def test_invitation_link_works_only_once(client, staff_client):
    invite(staff_client)
    path = invitation_path()
    data = {"new_password1": "invited secret 42", "new_password2": "invited secret 42"}
    client.post(path, data)
    client.post("/accounts/logout/")
    again = client.post(path, {**data, "new_password1": "x" * 12, "new_password2": "x" * 12})
    assert again.status_code == 410
    assert "expired or was already used" in again.content.decode()
    assert User.objects.get(username="newbie").check_password("invited secret 42")


def test_expired_invitation_shows_a_clear_page(client, staff_client):
    invite(staff_client)
    Invitation.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = client.get(invitation_path())
    assert response.status_code == 410
    assert "expired or was already used" in response.content.decode()


def test_unknown_invitation_token_shows_the_same_page(client, db):
    response = client.get("/accounts/invitation/not-a-real-token/")
    assert response.status_code == 410
    assert "expired or was already used" in response.content.decode()


def test_staff_sends_a_new_link_and_the_old_one_stops_working(client, staff_client):
    invite(staff_client)
    old_path = invitation_path()
    user = User.objects.get(username="newbie")
    page = staff_client.get(INVITE).content.decode()
    assert "newbie@example.com" in page
    response = staff_client.post(f"/accounts/invite/{user.pk}/resend/")
    assert response.status_code == 302
    new_path = invitation_path()
    assert new_path != old_path
    assert client.get(old_path).status_code == 410
    assert client.get(new_path).status_code == 200


def test_no_new_link_for_a_user_with_a_password(staff_client, alice):
    assert staff_client.post(f"/accounts/invite/{alice.pk}/resend/").status_code == 404
    assert not mail.outbox


def test_resending_is_staff_only(alice_client, bob):
    assert alice_client.post(f"/accounts/invite/{bob.pk}/resend/").status_code == 403


def test_many_bad_links_from_one_address_are_throttled_but_a_valid_one_still_works(
    client, staff_client
):
    """Others behind the same address (a company's NAT) mistyping links must not lock a
    colleague out of a real invitation."""
    from accounts.throttles import BAD_LINK_THROTTLE

    invite(staff_client)
    good = invitation_path()
    for n in range(BAD_LINK_THROTTLE.limit):
        assert client.get(f"/accounts/invitation/guess-{n}/").status_code == 410
    response = client.get("/accounts/invitation/guess-again/")
    assert response.status_code == 429
    assert "Too many invalid links" in response.content.decode()
    assert int(response["Retry-After"]) > 0
    assert client.get(good).status_code == 200
