import socket

import pytest

from locker.celery import app as celery_app


def closed_loopback_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.django_db
def test_healthz_answers_ok_when_everything_is_reachable(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_healthz_needs_no_login_and_sets_no_cookie(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert not response.cookies


@pytest.mark.django_db
def test_healthz_answers_503_naming_an_unreachable_broker(client, monkeypatch):
    unreachable = f"redis://127.0.0.1:{closed_loopback_port()}/0"
    # Celery lets the CELERY_BROKER_URL environment variable win over its configuration.
    monkeypatch.setenv("CELERY_BROKER_URL", unreachable)
    monkeypatch.setattr(celery_app.conf, "broker_url", unreachable)
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["failing"] == ["broker"]
    assert "broker" in body["detail"]
