import socket

import pytest
from django.test import override_settings

from locker import __version__
from locker.celery import app as celery_app
from tests.fixtures.smallfs import fill


def closed_loopback_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.django_db
def test_healthz_answers_ok_when_everything_is_reachable(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "version": __version__}


@pytest.mark.django_db
def test_healthz_needs_no_login_and_sets_no_cookie(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert not response.cookies


@pytest.mark.django_db
def test_healthz_answers_503_naming_an_unreachable_broker(client, monkeypatch):
    unreachable = f"redis://127.0.0.1:{closed_loopback_port()}/0"
    # Celery lets the CELERY_BROKER_URL environment variable win over its configuration. The
    # configuration first: once the variable is set, reading it would give the variable, which
    # monkeypatch would then "restore" for the rest of the run.
    monkeypatch.setattr(celery_app.conf, "broker_url", unreachable)
    monkeypatch.setenv("CELERY_BROKER_URL", unreachable)
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["failing"] == ["broker"]
    assert "broker" in body["detail"]


def redis_cache_at(port: int):
    """The cache on a Redis at `port`, for the test's body only (the fixtures that clear the
    cache afterwards must find the real one)."""
    return override_settings(
        CACHES={
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": f"redis://127.0.0.1:{port}/0",
                "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
            }
        }
    )


@pytest.mark.django_db
def test_healthz_answers_503_naming_an_unreachable_cache(client):
    with redis_cache_at(closed_loopback_port()):
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["failing"] == ["cache"]
    assert "cache" in response.json()["detail"]
    assert response["Retry-After"]


@pytest.mark.django_db
def test_healthz_answers_503_when_the_cache_accepts_connections_but_never_answers(client):
    # A socket that listens but is never accepted from: the kernel completes the handshake,
    # nothing ever answers (a hung server, a host dropping packets after the connection).
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        with redis_cache_at(silent.getsockname()[1]):
            response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["failing"] == ["cache"]


@pytest.mark.django_db
def test_healthz_answers_503_when_local_storage_is_low_on_space(
    client, settings, small_local_storage
):
    settings.LOCKER_MIN_FREE_SPACE = "1M"
    assert client.get("/healthz").status_code == 200
    filler = fill(small_local_storage)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["failing"] == ["disk"]
    filler.unlink()
    assert client.get("/healthz").status_code == 200


@pytest.mark.django_db
def test_healthz_free_space_threshold_may_be_a_share_of_the_disk(
    client, settings, small_local_storage
):
    settings.DATA_DIR = small_local_storage  # checked too; here on the same small disk
    settings.LOCKER_MIN_FREE_SPACE = "99%"  # of the 16 MiB file system: 163 KiB may be used
    assert client.get("/healthz").status_code == 200
    (small_local_storage / "some").write_bytes(b"\0" * (512 * 1024))
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["failing"] == ["disk"]
