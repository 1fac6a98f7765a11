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
        # The API, and the public link routes a program can use (tag `public`).
        assert route.startswith(("/api/v1/", "/s/", "/r/")), route
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


@pytest.fixture(scope="module")
def schema():
    from drf_spectacular.generators import SchemaGenerator

    return SchemaGenerator().get_schema(request=None, public=True)


def _operations(schema):
    for route, operations in schema["paths"].items():
        for method, operation in operations.items():
            if method != "parameters":
                yield f"{method.upper()} {route}", operation


ERROR_REFERENCE = {"$ref": "#/components/schemas/Error"}


def test_every_operation_that_needs_authentication_documents_401_and_429(schema):
    checked = 0
    for name, operation in _operations(schema):
        if {} in operation.get("security", [{}]):
            continue  # anonymous access allowed
        checked += 1
        assert "401" in operation["responses"], f"{name} does not document 401"
        assert "429" in operation["responses"], f"{name} does not document 429"
    assert checked > 40


def test_every_operation_documents_503_with_retry_after(schema):
    for name, operation in _operations(schema):
        answer = operation["responses"].get("503")
        assert answer is not None, f"{name} does not document 503"
        assert "Retry-After" in answer["headers"], name


def test_every_error_answer_references_the_error_component(schema):
    for name, operation in _operations(schema):
        for code, answer in operation["responses"].items():
            if code[0] not in "45" or code == "416":  # 416 has no body: Content-Range only
                continue
            content = answer.get("content", {})
            assert list(content) == ["application/json"], f"{name} {code}: {list(content)}"
            assert content["application/json"]["schema"] == ERROR_REFERENCE, f"{name} {code}"
    error = schema["components"]["schemas"]["Error"]
    assert set(error["properties"]) == {"code", "detail", "errors", "unavailable", "existing"}
    assert {"code", "detail"} <= set(error["required"])
    code = error["properties"]["code"]
    assert code.get("allOf", [code])[0]["$ref"] == "#/components/schemas/ErrorCodeEnum"


def test_every_operation_has_a_tag(schema):
    for name, operation in _operations(schema):
        assert operation.get("tags"), f"{name} has no tag"


def test_every_api_body_documents_400_413_and_415(schema):
    for name, operation in _operations(schema):
        if "requestBody" in operation and " /api/v1/" in name:
            for code in ("400", "413", "415"):
                assert code in operation["responses"], f"{name} does not document {code}"


def test_uploads_document_415_409_413_and_507(schema):
    upload = schema["paths"]["/api/v1/files/"]["post"]
    assert list(upload["requestBody"]["content"]) == ["multipart/form-data"]
    assert {"409", "413", "415", "507"} <= set(upload["responses"])


def test_path_ids_document_404_and_admin_endpoints_403(schema):
    for name, operation in _operations(schema):
        if "{" in name:
            assert "404" in operation["responses"], f"{name} does not document 404"
    assert "403" in schema["paths"]["/api/v1/users/"]["get"]["responses"]
    # Every operation an API token needs a scope for may refuse it with 403 (accounts.scopes).
    for name, operation in _operations(schema):
        if operation.get("x-required-scopes"):
            assert "403" in operation["responses"], f"{name} does not document 403"


def test_binary_answers_are_typed(schema):
    def content_types(route: str, code: str) -> list[str]:
        return list(schema["paths"][route]["get"]["responses"][code]["content"])

    assert content_types("/api/v1/files/{id}/thumbnail/", "200") == ["image/webp"]
    assert content_types("/api/v1/folders/{id}/download/", "200") == ["application/zip"]
    assert content_types("/api/v1/files/{id}/content/", "200") == ["application/octet-stream"]
    assert content_types("/api/v1/files/{id}/content/", "206") == ["application/octet-stream"]
    content = schema["paths"]["/api/v1/files/{id}/content/"]["get"]
    assert "Range" in [p["name"] for p in content["parameters"]]
    assert "Content-Range" in content["responses"]["206"]["headers"]


def test_page_size_documents_its_maximum(schema):
    parameters = schema["paths"]["/api/v1/files/"]["get"]["parameters"]
    page_size = next(p for p in parameters if p["name"] == "page_size")
    assert page_size["schema"]["maximum"] == 500
    assert page_size["schema"]["minimum"] == 1


def test_share_status_is_an_enum(schema):
    components = schema["components"]["schemas"]
    status = components["Share"]["properties"]["status"]
    assert status == {"$ref": "#/components/schemas/ShareStatusEnum"} or status["allOf"] == [
        {"$ref": "#/components/schemas/ShareStatusEnum"}
    ]
    assert set(components["ShareStatusEnum"]["enum"]) == {
        "active",
        "expired",
        "revoked",
        "exhausted",
        "unavailable",
    }


def test_public_link_routes_are_documented_under_the_public_tag_without_authentication(schema):
    public = {
        f"{method.upper()} {route}"
        for route, operations in schema["paths"].items()
        for method, operation in operations.items()
        if operation["tags"] == ["public"]
    }
    assert public == {
        "POST /s/{token}",
        "GET /s/{token}/download",
        "POST /r/{token}",
        "POST /r/{token}/upload",
    }
    for name in public:
        method, route = name.split(" ")
        operation = schema["paths"][route][method.lower()]
        assert operation["security"] == [{}], name
        assert "404" in operation["responses"] and "410" in operation["responses"], name
    download = schema["paths"]["/s/{token}/download"]["get"]["responses"]
    assert set(download["200"]["content"]) == {"application/octet-stream", "application/zip"}
    upload = schema["paths"]["/r/{token}/upload"]["post"]
    assert list(upload["requestBody"]["content"]) == ["multipart/form-data"]
    assert {"411", "413", "415", "507"} <= set(upload["responses"])
