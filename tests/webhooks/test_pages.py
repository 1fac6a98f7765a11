"""The Webhooks page (from the top bar): list, add (secret shown once), errors next to the
form, delivery log, send test event, delete; another user's endpoint is a 404."""

import pytest

from webhooks import services
from webhooks.models import Delivery, Webhook

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


def test_the_page_is_linked_from_the_top_bar(alice_client):
    page = alice_client.get("/").content.decode()
    assert 'id="nav-webhooks"' in page and 'href="/webhooks/"' in page


def test_adding_a_webhook_shows_its_secret_once(alice_client, alice, allow_private):
    response = alice_client.post(
        "/webhooks/",
        {"url": "http://127.0.0.1:9/hook", "events": ["file.uploaded", "share.revoked"]},
    )
    webhook = Webhook.objects.get(owner=alice)
    assert response.status_code == 302 and response["Location"] == f"/webhooks/{webhook.public_id}/"
    first = alice_client.get(response["Location"]).content.decode()
    assert 'id="new-webhook-secret"' in first and "whsec_" in first
    again = alice_client.get(response["Location"]).content.decode()
    assert "whsec_" not in again
    assert webhook.events == ["file.uploaded", "share.revoked"]
    listed = alice_client.get("/webhooks/").content.decode()
    assert "http://127.0.0.1:9/hook" in listed


def test_form_errors_are_shown_next_to_the_form(alice_client):
    response = alice_client.post(
        "/webhooks/", {"url": "https://localhost/hook", "events": ["file.uploaded"]}
    )
    assert response.status_code == 200
    assert "public addresses only" in response.content.decode()
    empty = alice_client.post("/webhooks/", {"url": "https://93.184.215.14/"})
    assert empty.status_code == 200 and "This field is required" in empty.content.decode()
    assert not Webhook.objects.exists()


def test_only_staff_see_the_scope_choice(alice_client, client, staff):
    assert 'name="scope"' not in alice_client.get("/webhooks/").content.decode()
    client.force_login(staff)
    assert 'name="scope"' in client.get("/webhooks/").content.decode()


def test_send_test_event_and_the_delivery_log(alice_client, alice, allow_private):
    webhook, _ = services.webhook_create(
        owner=alice, url="http://127.0.0.1:9/hook", events=["file.uploaded"]
    )
    response = alice_client.post(f"/webhooks/{webhook.public_id}/test")
    assert response.status_code == 302
    delivery = Delivery.objects.get(webhook=webhook)
    assert delivery.event == "webhook.test"
    Delivery.objects.filter(pk=delivery.pk).update(
        state="failed", attempts=3, last_status=500, last_response="boom <b>", last_error=""
    )
    page = alice_client.get(f"/webhooks/{webhook.public_id}/").content.decode()
    assert f'data-delivery-id="{delivery.public_id}"' in page
    assert "boom &lt;b&gt;" in page and "500" in page


def test_delete_removes_the_webhook(alice_client, alice, allow_private):
    webhook, _ = services.webhook_create(
        owner=alice, url="http://127.0.0.1:9/hook", events=["file.uploaded"]
    )
    assert alice_client.get(f"/webhooks/{webhook.public_id}/delete").status_code == 405
    assert alice_client.post(f"/webhooks/{webhook.public_id}/delete").status_code == 302
    assert not Webhook.objects.exists()


def test_another_users_webhook_is_404_on_every_page(client, alice, bob, allow_private):
    webhook, _ = services.webhook_create(
        owner=alice, url="http://127.0.0.1:9/hook", events=["file.uploaded"]
    )
    client.force_login(bob)
    base = f"/webhooks/{webhook.public_id}/"
    assert client.get(base).status_code == 404
    assert client.post(base + "test").status_code == 404
    assert client.post(base + "delete").status_code == 404
    assert "127.0.0.1:9" not in client.get("/webhooks/").content.decode()
    assert Webhook.objects.filter(pk=webhook.pk).exists() and not Delivery.objects.exists()


def test_the_page_requires_a_login(client, db):
    response = client.get("/webhooks/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_staff_see_every_webhook_in_the_admin_with_the_url_escaped(
    client, staff, alice, allow_private
):
    webhook, _ = services.webhook_create(
        owner=alice, url="http://127.0.0.1:9/<script>x</script>", events=["file.uploaded"]
    )
    client.force_login(staff)
    listing = client.get("/admin/webhooks/webhook/").content.decode()
    assert "&lt;script&gt;x&lt;/script&gt;" in listing and "<script>x</script>" not in listing
    page = client.get(f"/admin/webhooks/webhook/{webhook.pk}/change/")
    assert page.status_code == 200 and "whsec_" not in page.content.decode()
