"""The web UI uploads with the session cookie: the CSRF token travels in the X-CSRFToken header,
and checking it must not parse (and so store) the multipart body before the upload view runs."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from files.models import File
from storage.models import Blob


@pytest.fixture
def browser_client(alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    client.get("/")  # the page sets the csrftoken cookie
    return client


def upload(client, name="a.txt", **extra):
    data = {"file": SimpleUploadedFile(name, b"hello"), "on_conflict": "rename"}
    data.update(extra.pop("data", {}))
    return client.post("/api/v1/files/", data, **extra)


def test_session_upload_with_the_csrf_header_is_stored(browser_client, alice):
    token = browser_client.cookies["csrftoken"].value
    response = upload(browser_client, HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 201, response.content
    assert response.json()["name"] == "a.txt"
    again = upload(browser_client, HTTP_X_CSRFTOKEN=token)
    assert again.json()["name"] == "a (1).txt"
    assert File.objects.filter(owner=alice).count() == 2


def test_session_upload_without_the_csrf_header_is_refused_and_stores_nothing(browser_client):
    response = upload(browser_client)
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    assert not File.objects.exists()
    assert not Blob.objects.exists()


def test_a_csrf_form_field_is_not_enough_for_a_multipart_upload(browser_client):
    token = browser_client.cookies["csrftoken"].value
    response = upload(browser_client, data={"csrfmiddlewaretoken": token})
    assert response.status_code == 403
    assert not Blob.objects.exists()


def test_session_json_writes_still_need_the_csrf_header(browser_client):
    token = browser_client.cookies["csrftoken"].value
    body = {"name": "Letters"}
    refused = browser_client.post("/api/v1/folders/", body, content_type="application/json")
    assert refused.status_code == 403
    created = browser_client.post(
        "/api/v1/folders/", body, content_type="application/json", HTTP_X_CSRFTOKEN=token
    )
    assert created.status_code == 201
