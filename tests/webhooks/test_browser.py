"""The Webhooks page in a browser: reached from the top bar, add an endpoint (the secret shown
once), send a test event and read its result in the delivery log, delete it."""

import pytest
from playwright.sync_api import expect

from webhooks import services
from webhooks.models import Delivery, Webhook

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_user_adds_tests_and_deletes_a_webhook(
    logged_in_page, live_server, alice, receiver, allow_private
):
    page = logged_in_page(alice)
    page.goto(f"{live_server.url}/")
    page.click("#nav-webhooks")
    expect(page.locator("#no-webhooks")).to_be_visible()
    page.fill("#id_url", receiver.url())
    with page.expect_navigation():
        page.click("#webhook-create button[type=submit]")
    webhook = Webhook.objects.get(owner=alice)
    secret = page.locator("#new-webhook-secret").inner_text().strip()
    assert secret.startswith("whsec_") and services.webhook_secret(webhook) == secret
    page.reload()
    expect(page.locator("#new-secret")).to_have_count(0)

    with page.expect_navigation():
        page.click("#webhook-test button")
    delivery = Delivery.objects.get(webhook=webhook)
    assert services.delivery_attempt(delivery_id=delivery.pk) == "succeeded"  # the worker's part
    page.reload()
    row = page.locator(f'[data-delivery-id="{delivery.public_id}"]')
    expect(row).to_contain_text("webhook.test")
    expect(row).to_contain_text("200")
    assert receiver.of_type("webhook.test")

    with page.expect_navigation():
        page.click("#webhook-delete button")
    expect(page.locator("#no-webhooks")).to_be_visible()
    assert not Webhook.objects.exists()
