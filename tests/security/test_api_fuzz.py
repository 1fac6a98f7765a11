"""Schemathesis against our own OpenAPI schema, as a normal user with an API token.

Every operation gets bounded generated requests (valid and invalid): none may answer 5xx, and
every response must conform to the schema we publish. In-process through the WSGI app, so it
runs in the normal `make test` (a couple of seconds per operation at most).
"""

import os

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

from accounts.services import api_token_create
from tests.fixtures.users import make_user

pytestmark = pytest.mark.django_db(transaction=False)

# 10 in every run; `LOCKER_FUZZ_EXAMPLES=100 make test PYTEST_ARGS=tests/security/test_api_fuzz.py`
# for a deeper pass.
EXAMPLES_PER_OPERATION = int(os.environ.get("LOCKER_FUZZ_EXAMPLES", "10"))


@schemathesis.serializer("application/offset+octet-stream")
def _tus_chunk(ctx, value) -> bytes:
    """tus PATCH bodies are raw bytes."""
    return value if isinstance(value, bytes) else str(value).encode()


def _load_schema():
    """Our published schema, generated in-process (the schema URL itself is rate limited in
    the cache, which collection cannot reach), driving the WSGI app."""
    import json

    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.renderers import OpenApiJsonRenderer

    document = SchemaGenerator().get_schema(request=None, public=True)
    loaded = schemathesis.openapi.from_dict(json.loads(OpenApiJsonRenderer().render(document)))
    loaded.app = WSGIHandler()
    loaded.location = "/api/v1/schema/"
    return loaded


schema = _load_schema()


@pytest.fixture(autouse=True)
def _keep_the_test_connection_open():
    """As Django's test client does: in-process requests must not close the test's database
    connection when they finish (the test runs inside one transaction)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def fuzz_user(db):
    from tests.security.conftest import store_file

    user = make_user("fuzzer")
    store_file(user, "fuzz.txt", b"some content")  # something to list, read and move
    return user


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_api_never_answers_5xx_and_keeps_to_its_schema(case, fuzz_user):
    # A fresh token per request: the fuzzer may well revoke the one it is using.
    _token, secret = api_token_create(user=fuzz_user, name="fuzz")
    case.call_and_validate(
        headers={"Authorization": f"Bearer {secret}", "Tus-Resumable": "1.0.0"},
        checks=[not_a_server_error, response_schema_conformance],
    )
