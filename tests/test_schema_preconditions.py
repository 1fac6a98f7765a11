"""The schema documents `Idempotency-Key` on every create operation and `If-Match` /
`If-None-Match` on the items' details, with the answers they add (409, 422, 412, 304)."""

import pytest
import yaml
from django.core.management import call_command

CREATES = [
    ("post", "/api/v1/files/"),
    ("post", "/api/v1/folders/"),
    ("post", "/api/v1/shares/"),
    ("post", "/api/v1/shares/{id}/email/"),
    ("post", "/api/v1/upload-links/"),
    ("post", "/api/v1/send/"),
    ("post", "/api/v1/tokens/"),
    ("post", "/api/v1/users/"),
    ("post", "/api/v1/tus/"),
]
DETAILS = [
    "/api/v1/files/{id}/",
    "/api/v1/folders/{id}/",
    "/api/v1/shares/{id}/",
    "/api/v1/upload-links/{id}/",
    "/api/v1/tokens/{id}/",
]


@pytest.fixture(scope="module")
def schema(tmp_path_factory):
    path = tmp_path_factory.mktemp("schema") / "schema.yaml"
    call_command("spectacular", "--file", str(path))
    return yaml.safe_load(path.read_text())


def headers_of(operation) -> set[str]:
    return {p["name"] for p in operation.get("parameters", []) if p["in"] == "header"}


@pytest.mark.parametrize(("method", "path"), CREATES)
def test_every_create_operation_takes_an_idempotency_key_and_documents_409_and_422(
    schema, method, path
):
    operation = schema["paths"][path][method]
    assert "Idempotency-Key" in headers_of(operation)
    assert {"409", "422"} <= set(operation["responses"])
    assert "Idempotency-Key" in operation["responses"]["409"]["description"]
    successes = [code for code in operation["responses"] if code.startswith("2")]
    assert successes
    for code in successes:
        assert "Idempotent-Replayed" in operation["responses"][code]["headers"]


@pytest.mark.parametrize("path", DETAILS)
def test_every_item_detail_documents_its_etag_and_preconditions(schema, path):
    operations = schema["paths"][path]
    assert "If-None-Match" in headers_of(operations["get"])
    assert "304" in operations["get"]["responses"]
    assert "ETag" in operations["get"]["responses"]["200"]["headers"]
    for method in ("patch", "delete"):
        if method in operations:
            assert "If-Match" in headers_of(operations[method])
            assert "412" in operations[method]["responses"]
    assert "delete" in operations
