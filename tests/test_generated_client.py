"""The schema stays usable: a client generated from it with openapi-python-client (as an API
user would) runs a short scenario against a live server: create a folder, upload a file into it,
list it, share it, read the share, download the file through the share's public route.

The client is generated once per module, from the schema the server serves, into a temporary
directory (never committed). Generation must succeed without a warning: an endpoint or answer the
generator cannot read would be missing from every generated client.
"""

import importlib
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from accounts.services import api_token_create

PACKAGE = "locker_client"
# The generator reads JSON, form, multipart and application/octet-stream bodies; the other binary
# types of the schema are bytes too.
CONFIG = f"""\
package_name_override: {PACKAGE}
project_name_override: locker-client
post_hooks: []
content_type_overrides:
  image/webp: application/octet-stream
  image/svg+xml: application/octet-stream
  application/zip: application/octet-stream
  application/offset+octet-stream: application/octet-stream
"""


@pytest.fixture(scope="module")
def generated(tmp_path_factory, django_db_blocker):
    from drf_spectacular.generators import SchemaGenerator

    where = tmp_path_factory.mktemp("generated-client")
    schema = SchemaGenerator().get_schema(request=None, public=True)
    (where / "schema.json").write_text(json.dumps(schema, default=str))
    (where / "config.yaml").write_text(CONFIG)
    generator = Path(sys.executable).parent / "openapi-python-client"
    run = subprocess.run(
        [
            str(generator),
            "generate",
            "--path",
            str(where / "schema.json"),
            "--config",
            str(where / "config.yaml"),
            "--meta",
            "none",
            "--output-path",
            str(where / PACKAGE),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    assert "WARNING" not in output and "Error" not in output, output
    sys.path.insert(0, str(where))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(where))
        for name in [name for name in sys.modules if name.split(".")[0] == PACKAGE]:
            del sys.modules[name]


def module(generated, name: str):
    return importlib.import_module(f"{generated.__name__}.{name}")


def test_generated_client_covers_every_operation(generated):
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    for route, operations in schema["paths"].items():
        for method, operation in operations.items():
            tag = operation["tags"][0].replace("-", "_")
            # Each operation is a module of its tag's package, named after its operationId.
            module(generated, f"api.{tag}.{operation['operationId']}")


def test_generated_client_runs_the_scenario_against_a_live_server(generated, live_server, alice):
    _token, secret = api_token_create(user=alice, name="generated client")
    client = generated.AuthenticatedClient(base_url=live_server.url, token=secret)
    models = module(generated, "models")
    types = module(generated, "types")

    create_folder = module(generated, "api.folders.folders_create")
    folder = create_folder.sync(client=client, body=models.FolderCreateRequest(name="Reports"))
    assert isinstance(folder, models.FolderDetail), folder
    assert folder.name == "Reports"

    content = b"quarterly numbers\n" * 100
    upload = module(generated, "api.files.files_create")
    part = types.File(payload=io.BytesIO(content), file_name="q1.txt", mime_type="text/plain")
    response = upload.sync_detailed(
        client=client, body=models.FileUploadRequest(file=[part], parent=folder.id)
    )
    assert response.status_code == 201, response.content
    file = response.parsed
    assert file.name == "q1.txt" and file.size == len(content)
    assert file.parent == folder.id

    listing = module(generated, "api.files.files_list").sync(client=client, parent=folder.id)
    assert [item.name for item in listing.results] == ["q1.txt"]

    created = module(generated, "api.shares.shares_create").sync(
        client=client, body=models.ShareCreateRequest(file=file.id, max_downloads=5)
    )
    assert isinstance(created, models.ShareCreated), created
    share = module(generated, "api.shares.shares_retrieve").sync(client=client, id=created.id)
    assert share.name == "q1.txt"
    assert share.status == models.ShareStatusEnum.ACTIVE
    assert share.download_count == 0

    anonymous = generated.Client(base_url=live_server.url)
    download = module(generated, "api.public.public_share_download")
    answer = download.sync_detailed(client=anonymous, token=created.token)
    assert answer.status_code == 200
    assert answer.parsed.payload.read() == content
    share = module(generated, "api.shares.shares_retrieve").sync(client=client, id=created.id)
    assert share.download_count == 1


def test_generated_client_reads_refusals_as_the_error_model(generated, live_server, alice):
    models = module(generated, "models")
    anonymous = generated.Client(base_url=live_server.url)
    refused = module(generated, "api.folders.folders_list").sync_detailed(client=anonymous)
    assert refused.status_code == 401
    assert isinstance(refused.parsed, models.Error) and refused.parsed.detail

    download = module(generated, "api.public.public_share_download")
    gone = download.sync_detailed(client=anonymous, token="x" * 32, accept="application/json")
    assert gone.status_code == 404
    assert isinstance(gone.parsed, models.Error) and gone.parsed.detail
