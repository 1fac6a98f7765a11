"""The OpenAPI schema of every app's endpoints is valid and produces no warnings."""

import re

import pytest
import yaml
from django.contrib.staticfiles import finders
from django.core.management import call_command


def test_schema_is_valid_without_warnings(tmp_path):
    path = tmp_path / "schema.yaml"
    # --fail-on-warn turns every warning (an undocumented field, an unknown type…) into a failure.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(path))
    schema = yaml.safe_load(path.read_text())
    assert schema["openapi"].startswith("3.")
    assert schema["paths"], "the schema documents no endpoint"


def test_every_operation_is_documented_with_responses(tmp_path):
    path = tmp_path / "schema.yaml"
    call_command("spectacular", "--file", str(path))
    schema = yaml.safe_load(path.read_text())
    operation_ids = []
    for route, operations in schema["paths"].items():
        assert route.startswith("/api/v1/"), route
        for method, operation in operations.items():
            if method == "parameters":
                continue
            assert operation.get("responses"), f"{method.upper()} {route} has no responses"
            operation_ids.append(operation["operationId"])
    assert len(operation_ids) == len(set(operation_ids)), "operationIds must be unique"


def test_schema_endpoint_answers(client, alice):
    client.force_login(alice)
    response = client.get("/api/v1/schema/")
    assert response.status_code == 200
    assert b"openapi" in response.content


@pytest.mark.django_db
def test_docs_page_answers_and_loads_only_local_assets(client, alice):
    client.force_login(alice)
    response = client.get("/api/v1/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "<script>" not in html, "inline scripts break the CSP"
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets
    for url in assets:
        assert not url.startswith(("http:", "https:", "//")), f"remote asset {url}"
        if url.startswith("/static/"):
            assert finders.find(url.removeprefix("/static/")), f"missing asset {url}"
    # The split view serves its initialiser as a same-origin script.
    script = client.get("/api/v1/docs/?script=")
    assert script.status_code == 200
    assert "SwaggerUIBundle" in script.content.decode()
