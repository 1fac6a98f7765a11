"""The webhooks API: register, list, change, delete; the secret shown once and kept sealed;
another user's endpoints are 404; URLs that would reach the instance's own network refused."""

import pytest

from webhooks.models import Delivery, Webhook

pytestmark = pytest.mark.django_db

EVENTS = ["file.uploaded", "share.revoked"]


def _create(api, url="https://93.184.215.14/hook", **extra):
    return api.post("/api/v1/webhooks/", {"url": url, "events": EVENTS, **extra}, format="json")


def test_the_secret_is_in_the_creation_answer_only(alice_api, alice):
    response = _create(alice_api)
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["secret"].startswith("whsec_") and len(data["secret"]) > 40
    assert data["events"] == EVENTS and data["scope"] == "mine" and data["active"] is True
    detail = alice_api.get(f"/api/v1/webhooks/{data['id']}/").json()
    listed = alice_api.get("/api/v1/webhooks/").json()["results"]
    assert "secret" not in detail and all("secret" not in item for item in listed)
    # At rest it is sealed, not stored as is.
    webhook = Webhook.objects.get(public_id=data["id"])
    assert data["secret"].encode() not in bytes(webhook.secret_sealed)


def test_another_users_webhooks_are_404_on_every_action(alice_api, bob_api):
    webhook_id = _create(alice_api).json()["id"]
    assert bob_api.get("/api/v1/webhooks/").json()["results"] == []
    url = f"/api/v1/webhooks/{webhook_id}/"
    assert bob_api.get(url).status_code == 404
    assert bob_api.patch(url, {"active": False}, format="json").status_code == 404
    assert bob_api.delete(url).status_code == 404
    assert bob_api.post(url + "test/").status_code == 404
    assert bob_api.get(url + "deliveries/").status_code == 404
    assert Delivery.objects.count() == 0
    assert Webhook.objects.get(public_id=webhook_id).active is True


def test_owner_changes_and_deletes_a_webhook(alice_api):
    webhook_id = _create(alice_api).json()["id"]
    url = f"/api/v1/webhooks/{webhook_id}/"
    changed = alice_api.patch(url, {"active": False, "events": ["share.expired"]}, format="json")
    assert changed.status_code == 200
    assert changed.json()["active"] is False and changed.json()["events"] == ["share.expired"]
    assert alice_api.delete(url).status_code == 204
    assert alice_api.get(url).status_code == 404


@pytest.mark.parametrize(
    "url",
    [
        "https://localhost/hook",  # a name that resolves to 127.0.0.1
        "https://127.0.0.1/hook",
        "https://10.1.2.3/hook",
        "https://192.168.1.1/hook",
        "https://169.254.169.254/latest/meta-data/",  # cloud metadata
        "https://[::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://224.0.0.1/hook",
        "https://0.0.0.0/hook",
        "https://100.64.0.1/hook",
    ],
)
def test_private_addresses_are_refused_at_creation(alice_api, url):
    response = _create(alice_api, url=url)
    assert response.status_code == 400
    assert "public addresses only" in response.json()["detail"]
    assert not Webhook.objects.exists()


@pytest.mark.parametrize(
    ("url", "sentence"),
    [
        ("http://93.184.215.14/hook", "https://"),
        ("ftp://93.184.215.14/hook", "https://"),
        ("https://user:pw@93.184.215.14/hook", "user name or password"),
        ("https:///hook", "name a host"),
        ("https://93.184.215.14/" + "a" * 2000, "too long"),
        ("https://no-such-host.invalid/hook", "cannot be resolved"),
    ],
)
def test_bad_urls_are_refused_with_a_sentence(alice_api, url, sentence):
    response = _create(alice_api, url=url)
    assert response.status_code == 400
    assert sentence in response.json()["detail"]


def test_http_and_private_addresses_are_allowed_when_the_setting_says_so(alice_api, settings):
    settings.LOCKER_WEBHOOK_ALLOW_PRIVATE = True
    assert _create(alice_api, url="http://localhost:9/hook").status_code == 201


def test_the_number_of_webhooks_per_user_is_bounded(alice_api, bob_api, settings):
    settings.LOCKER_WEBHOOK_MAX_PER_USER = 2
    assert _create(alice_api).status_code == 201
    assert _create(alice_api).status_code == 201
    third = _create(alice_api)
    assert third.status_code == 400 and "most webhooks" in third.json()["detail"]
    assert _create(bob_api).status_code == 201  # each user has their own allowance


def test_unknown_events_are_refused(alice_api):
    response = alice_api.post(
        "/api/v1/webhooks/",
        {"url": "https://93.184.215.14/", "events": ["file.deleted"]},
        format="json",
    )
    assert response.status_code == 400 and response.json()["detail"]
    empty = alice_api.post(
        "/api/v1/webhooks/", {"url": "https://93.184.215.14/", "events": []}, format="json"
    )
    assert empty.status_code == 400 and "at least one" in empty.json()["detail"]


def test_only_staff_may_register_for_the_whole_instance(alice_api, staff_api):
    refused = _create(alice_api, scope="instance")
    assert refused.status_code == 400 and "Only staff" in refused.json()["detail"]
    assert _create(staff_api, scope="instance").json()["scope"] == "instance"


def test_send_test_queues_a_test_delivery_listed_in_the_log(alice_api, allow_private):
    webhook_id = _create(alice_api, url="http://127.0.0.1:9/hook").json()["id"]
    queued = alice_api.post(f"/api/v1/webhooks/{webhook_id}/test/")
    assert queued.status_code == 202
    assert queued.json()["event"] == "webhook.test" and queued.json()["state"] == "pending"
    log = alice_api.get(f"/api/v1/webhooks/{webhook_id}/deliveries/").json()["results"]
    assert [entry["id"] for entry in log] == [queued.json()["id"]]


def test_anonymous_requests_are_refused(anon_api):
    assert anon_api.get("/api/v1/webhooks/").status_code in (401, 403)


def test_a_token_needs_the_webhook_scopes_and_no_folder_confinement(alice):
    from rest_framework.test import APIClient

    from accounts.services import api_token_create
    from files.services import folder_create

    def client(scopes, folder=None):
        _token, secret = api_token_create(user=alice, name="hooks", scopes=scopes, folder=folder)
        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
        return api

    reader = client(["webhooks:read"])
    assert reader.get("/api/v1/webhooks/").status_code == 200
    refused = _create(reader)
    assert refused.status_code == 403 and "webhooks:write" in refused.json()["detail"]
    assert _create(client(["webhooks:read", "webhooks:write"])).status_code == 201
    # Events cover the whole account: a token confined to a folder may not register any.
    invoices = folder_create(user=alice, parent=None, name="Invoices")
    confined = client(["webhooks:read", "webhooks:write"], folder=invoices)
    answer = _create(confined)
    assert answer.status_code == 403 and "confined to a folder" in answer.json()["detail"]
    assert confined.get("/api/v1/webhooks/").status_code == 403
    assert Webhook.objects.filter(owner=alice).count() == 1
