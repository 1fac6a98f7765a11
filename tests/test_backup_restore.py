"""`manage.py backup` and `manage.py restore` (storage/backup.py, docs/operations.md).

The round trips run the real commands in subprocesses, each instance with its own data dir and
database: an instance with files (one in a nested folder), a share link, an upload link and an
API token is backed up, restored into an empty instance, and served there by a real gunicorn;
every file downloads byte-exact through the API with the old token and the links resolve. On
SQLite and PostgreSQL with local storage, and with S3, where the objects stay in the bucket.

The refusals run in the test's own instance: nothing may change when a restore is refused.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from files.models import File
from tests.fixtures.files import make_file, make_folder
from tests.fixtures.multiworker import REPO, gunicorn_server, manage, prepare, server_env
from tests.fixtures.postgres import fresh_postgres_database

SETUP = """
import hashlib, json, os
from accounts.models import User
from accounts.services import api_token_create
from storage.writer import content_writer
from files.services import NewFileContent, files_create, folder_create
from sharing.services import share_create
from sharing.upload_links import upload_link_create

alice = User.objects.create_user(username="alice", email="alice@example.com", password="x")
_token, secret = api_token_create(user=alice, name="backup")
docs = folder_create(user=alice, parent=None, name="Docs")
year = folder_create(user=alice, parent=docs, name="2026")
files = {}
for folder, name, data in [
    (None, "notes.txt", b"hello from before the backup\\n"),
    (None, "big.bin", os.urandom(3 * 1024 * 1024 + 5)),  # four segments
    (docs, "empty.txt", b""),
    (year, "report.pdf", os.urandom(70000)),
]:
    writer = content_writer(); writer.write(data); blob = writer.finish()
    (file,) = files_create(user=alice, folder=folder, contents=[NewFileContent(
        name=name, blob=blob, size=len(data), sha256=hashlib.sha256(data).hexdigest(),
        content_type="application/octet-stream")])
    files[name] = {"id": str(file.public_id), "sha256": hashlib.sha256(data).hexdigest()}
from files.models import File
share, share_token = share_create(owner=alice, file=File.objects.get(name="notes.txt"))
_link, link_token = upload_link_create(owner=alice, folder=docs, notify=False)
print("RESULT=" + json.dumps({"token": secret, "files": files, "share": share_token,
      "link": link_token}))
"""


def master_key_value() -> str:
    import base64

    return f"kbackup1:{base64.b64encode(os.urandom(32)).decode()}"


@pytest.fixture
def postgres_databases():
    """Makes databases of their own on the PostgreSQL server of the run (or the local one);
    drops them at the end."""
    prefix = (urlsplit(os.environ.get("DATABASE_URL", "")).path.strip("/") or "locker")[:30]
    with contextlib.ExitStack() as made:

        def make(role: str) -> str:
            database = fresh_postgres_database(
                f"{prefix}_{role}", needed_by="The PostgreSQL round trip"
            )
            return made.enter_context(database).url()

        yield make


def s3_instance(tmp_path: Path, name: str, s3_server, bucket: str, keys: str) -> dict[str, str]:
    """The environment of an instance on the test S3 server, with its own data dir."""
    return server_env(tmp_path / name, "", LOCKER_MASTER_KEYS=keys, **s3_env(s3_server, bucket))


def s3_env(s3_server, bucket: str) -> dict[str, str]:
    return {
        "LOCKER_STORAGE": "s3",
        "LOCKER_S3_ENDPOINT_URL": s3_server.endpoint_url,
        "LOCKER_S3_BUCKET": bucket,
        "LOCKER_S3_ACCESS_KEY_ID": s3_server.access_key,
        "LOCKER_S3_SECRET_ACCESS_KEY": s3_server.secret_key,
        "LOCKER_S3_REGION": s3_server.region,
    }


def run_manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def get(base: str, path: str, token: str | None = None) -> tuple[int, bytes]:
    import urllib.error
    import urllib.request

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(f"{base}{path}", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - loopback
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def assert_instance_serves_everything(env: dict[str, str], result: dict, log: Path) -> None:
    """The restored instance, served by gunicorn: every file byte-exact through the API with
    the old token, the share link and the upload link resolve."""
    with gunicorn_server(env, log, workers=1) as server:
        for name, expected in result["files"].items():
            status, body = get(
                server.base, f"/api/v1/files/{expected['id']}/content", result["token"]
            )
            assert status == 200, (name, status, body[:300])
            assert hashlib.sha256(body).hexdigest() == expected["sha256"], name
        status, body = get(server.base, "/api/v1/me/", result["token"])
        assert status == 200 and json.loads(body)["username"] == "alice"
        status, _body = get(server.base, f"/s/{result['share']}")
        assert status == 200
        status, body = get(server.base, f"/s/{result['share']}/download")
        assert status == 200
        assert hashlib.sha256(body).hexdigest() == result["files"]["notes.txt"]["sha256"]
        status, _body = get(server.base, f"/r/{result['link']}")
        assert status == 200


def round_trip(tmp_path: Path, source_env: dict, target_env: dict, *, include_keys: bool) -> dict:
    result = json.loads(prepare(source_env, SETUP).split("RESULT=", 1)[1])
    backup = tmp_path / "backup"
    output = manage(
        source_env, "backup", str(backup), *(["--include-keys"] if include_keys else [])
    )
    assert "Backup written to" in output
    restored = manage(target_env, "restore", str(backup))
    assert "Restore complete." in restored
    assert_instance_serves_everything(target_env, result, tmp_path / "target.log")
    return json.loads((backup / "manifest.json").read_text())


def test_a_sqlite_instance_on_local_disk_is_restored_with_its_keys_into_a_fresh_data_dir(
    tmp_path,
):
    source = server_env(tmp_path / "source", "")
    target = server_env(tmp_path / "target", "")
    manifest = round_trip(tmp_path, source, target, include_keys=True)
    assert manifest["database"]["engine"] == "sqlite"
    assert manifest["storage"]["objects_copied"] is True
    assert manifest["storage"]["objects"] == 4
    assert manifest["keys"]["included"] is True
    # The restored data dir holds the source's keys (the ones generated there are replaced).
    for name in ("master.key", "secret_key"):
        assert (tmp_path / "target" / name).read_text() == (tmp_path / "source" / name).read_text()


def test_a_postgresql_instance_on_local_disk_is_restored_into_an_empty_database(
    tmp_path, postgres_databases
):
    keys = master_key_value()  # kept apart from the backup, as production does
    source = server_env(
        tmp_path / "source", "", DATABASE_URL=postgres_databases("src"), LOCKER_MASTER_KEYS=keys
    )
    target = server_env(
        tmp_path / "target", "", DATABASE_URL=postgres_databases("dst"), LOCKER_MASTER_KEYS=keys
    )
    manifest = round_trip(tmp_path, source, target, include_keys=False)
    assert manifest["database"]["engine"] == "postgresql"
    assert (tmp_path / "backup" / "database.pgdump").is_file()
    assert manifest["storage"]["objects"] == 4
    assert manifest["keys"] | {"checks": None} == {
        "included": False,
        "master_key_ids": ["kbackup1"],
        "checks": None,
        "files": {},
    }


@pytest.mark.s3
def test_an_s3_instance_is_restored_with_its_objects_left_in_the_bucket(tmp_path, s3_server):
    bucket = f"backup-{secrets.token_hex(4)}"
    s3_server.client().create_bucket(Bucket=bucket)
    keys = master_key_value()
    source = server_env(
        tmp_path / "source", "", LOCKER_MASTER_KEYS=keys, **s3_env(s3_server, bucket)
    )
    target = server_env(
        tmp_path / "target", "", LOCKER_MASTER_KEYS=keys, **s3_env(s3_server, bucket)
    )
    manifest = round_trip(tmp_path, source, target, include_keys=False)
    assert manifest["storage"] | {"list_sha256": None} == {
        "kind": "s3",
        "objects_copied": False,
        "objects": 4,
        "bytes": manifest["storage"]["bytes"],
        "list": "objects.tsv",
        "list_bytes": manifest["storage"]["list_bytes"],
        "list_sha256": None,
        "bucket": bucket,
        "prefix": "",
        "endpoint_url": s3_server.endpoint_url,
    }
    assert not (tmp_path / "backup" / "objects").exists()


@pytest.mark.s3
def test_restore_refuses_an_s3_backup_whose_objects_left_the_bucket(tmp_path, s3_server):
    bucket = f"backup-{secrets.token_hex(4)}"
    client = s3_server.client()
    client.create_bucket(Bucket=bucket)
    keys = master_key_value()
    source = server_env(
        tmp_path / "source", "", LOCKER_MASTER_KEYS=keys, **s3_env(s3_server, bucket)
    )
    prepare(source, SETUP)
    manage(source, "backup", str(tmp_path / "backup"))
    first = client.list_objects_v2(Bucket=bucket)["Contents"][0]["Key"]
    client.delete_object(Bucket=bucket, Key=first)
    target = server_env(
        tmp_path / "target", "", LOCKER_MASTER_KEYS=keys, **s3_env(s3_server, bucket)
    )
    done = run_manage(target, "restore", str(tmp_path / "backup"))
    assert done.returncode == 1
    assert "1 objects this backup needs are missing from bucket" in done.stderr
    assert "Nothing was restored." in done.stderr


# --- refusals, in the test's own instance -------------------------------------------------------


@pytest.fixture
def backed_up(transactional_db, local_storage_settings, tmp_path, alice):
    """alice with three files (one in a nested folder), backed up into tmp_path/backup."""
    docs = make_folder(alice, "Docs")
    make_file(alice, "a.txt", b"a" * 100)
    make_file(alice, "b.txt", os.urandom(5000))
    make_file(alice, "c.txt", b"c", folder=make_folder(alice, "2026", parent=docs))
    backup = tmp_path / "backup"
    call_command("backup", str(backup), stdout=open(os.devnull, "w"))  # noqa: SIM115
    return backup


def restore_error(backup: Path, *args: str) -> str:
    with pytest.raises(CommandError) as raised:
        call_command("restore", str(backup), *args)
    return str(raised.value)


def test_backup_into_a_directory_that_is_not_empty_is_refused(
    transactional_db, local_storage_settings, tmp_path
):
    target = tmp_path / "backup"
    target.mkdir()
    (target / "something").write_text("old")
    with pytest.raises(CommandError, match="is not an empty directory"):
        call_command("backup", str(target))
    assert sorted(os.listdir(target)) == ["something"]


def test_a_backup_killed_half_way_leaves_no_backup_and_the_next_one_clears_its_files(
    transactional_db, local_storage_settings, tmp_path, alice
):
    """What a killed backup left (the partial directory beside the target, its temporary
    files) is removed by the next backup to the same place, which comes out whole."""
    make_file(alice, "a.txt", b"a" * 100)
    partial = tmp_path / ".backup.partial"
    (partial / "objects" / "ab").mkdir(parents=True)
    (partial / ".manifest.json.tmp").write_text('{"format": "locker-backup"')
    (partial / ".objects.tsv.new").write_text("half a line")
    (partial / "objects" / "ab" / "half-an-object").write_bytes(b"x" * 10)
    call_command("backup", str(tmp_path / "backup"), stdout=open(os.devnull, "w"))  # noqa: SIM115
    assert [name for name in os.listdir(tmp_path) if "backup" in name] == ["backup"]
    left = [p.name for p in (tmp_path / "backup").rglob("*") if p.name.startswith(".")]
    assert left == []
    assert (tmp_path / "backup" / "manifest.json").exists()
    assert oct((tmp_path / "backup").stat().st_mode & 0o777) == "0o700"


def test_a_backup_that_fails_half_way_leaves_no_partial_directory(
    transactional_db, local_storage_settings, tmp_path, alice, monkeypatch
):
    from storage import backup

    make_file(alice, "a.txt", b"a" * 100)
    target = tmp_path / "backup"
    target.mkdir()

    def killed(path, text):
        raise KeyboardInterrupt  # the operator's Ctrl-C as the manifest is written

    monkeypatch.setattr(backup, "_write_private", killed)
    with pytest.raises(KeyboardInterrupt):
        call_command("backup", str(target), stdout=open(os.devnull, "w"))  # noqa: SIM115
    assert [name for name in os.listdir(tmp_path) if "backup" in name] == ["backup"]
    assert os.listdir(target) == []


def test_a_restore_clears_a_key_file_a_killed_restore_was_writing(backed_up, settings):
    stale = Path(settings.DATA_DIR) / ".master.key.tmp"
    stale.write_text("key material of a restore killed while writing it")
    call_command("restore", str(backed_up), "--force", stdout=open(os.devnull, "w"))  # noqa: SIM115
    assert not stale.exists()


def test_backup_without_include_keys_holds_no_key_and_says_where_they_must_be(
    transactional_db, local_storage_settings, tmp_path, alice, settings
):
    import io

    make_file(alice, "a.txt", b"secret")
    output = io.StringIO()
    call_command("backup", str(tmp_path / "backup"), stdout=output)
    assert "The master keys are NOT in this backup" in output.getvalue()
    assert "Restoring it needs the master keys" in output.getvalue()
    manifest = json.loads((tmp_path / "backup" / "manifest.json").read_text())
    assert manifest["keys"]["included"] is False
    assert not (tmp_path / "backup" / "keys").exists()
    key_material = settings.LOCKER_MASTER_KEYS.split(":", 1)[1].encode()
    for path in (tmp_path / "backup").rglob("*"):
        if path.is_file():
            assert key_material not in path.read_bytes(), path


def test_backup_with_include_keys_holds_the_keys_and_everything_is_readable_by_the_owner_only(
    transactional_db, local_storage_settings, tmp_path, settings, alice
):
    make_file(alice, "a.txt", b"a", folder=make_folder(alice, "Docs"))
    call_command("backup", str(tmp_path / "backup"), "--include-keys", stdout=open(os.devnull, "w"))  # noqa: SIM115
    key_file = tmp_path / "backup" / "keys" / "master.key"
    assert key_file.read_text().strip() == settings.LOCKER_MASTER_KEYS
    modes = {
        path.relative_to(tmp_path).as_posix(): path.stat().st_mode & 0o777
        for path in [tmp_path / "backup", *(tmp_path / "backup").rglob("*")]
    }
    assert modes["backup/keys/master.key"] == 0o600
    assert {mode for name, mode in modes.items() if (tmp_path / name).is_dir()} == {0o700}
    assert {mode for name, mode in modes.items() if (tmp_path / name).is_file()} == {0o600}


def test_restore_from_a_directory_without_a_manifest_is_refused(transactional_db, tmp_path):
    (tmp_path / "not-a-backup").mkdir()
    message = restore_error(tmp_path / "not-a-backup")
    assert "holds no manifest.json: it is not a Locker backup" in message


def test_restore_of_a_tampered_manifest_is_refused_and_changes_nothing(backed_up):
    manifest = json.loads((backed_up / "manifest.json").read_text())
    manifest["storage"]["objects"] = 2
    (backed_up / "manifest.json").write_text(json.dumps(manifest))
    before = File.objects.count()
    message = restore_error(backed_up, "--force")
    assert "manifest.json was changed after the backup was written" in message
    assert File.objects.count() == before == 3


def test_restore_of_a_backup_missing_an_object_is_refused_and_changes_nothing(backed_up):
    listed = (backed_up / "objects.tsv").read_text().splitlines()[0].split("\t")[0]
    (backed_up / "objects" / listed[:2] / listed[2:4] / listed).unlink()
    message = restore_error(backed_up, "--force")
    assert f"Object {listed} is missing from the backup" in message
    assert File.objects.count() == 3


def test_restore_of_a_damaged_object_is_refused(backed_up):
    listed = (backed_up / "objects.tsv").read_text().splitlines()[0].split("\t")[0]
    path = backed_up / "objects" / listed[:2] / listed[2:4] / listed
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    message = restore_error(backed_up, "--force")
    assert f"Object {listed} does not match the manifest" in message


def test_restore_into_an_instance_that_is_not_empty_needs_force(backed_up):
    message = restore_error(backed_up)
    assert message.startswith("This instance is not empty (1 users, 3 stored objects)")
    assert "pass --force to replace everything" in message
    assert File.objects.count() == 3


def test_restore_without_the_master_keys_is_refused_and_names_the_missing_key(backed_up, settings):
    backup_key_id = settings.LOCKER_MASTER_KEYS.split(":", 1)[0]
    settings.LOCKER_MASTER_KEYS = master_key_value()
    message = restore_error(backed_up, "--force")
    assert f"encrypted under master key {backup_key_id!r}, which this instance does not have" in (
        message
    )
    assert "the backup holds no keys" in message
    assert File.objects.count() == 3


def test_restore_with_another_key_under_the_same_id_is_refused(backed_up, settings):
    import base64

    key_id = settings.LOCKER_MASTER_KEYS.split(":", 1)[0]
    settings.LOCKER_MASTER_KEYS = f"{key_id}:{base64.b64encode(os.urandom(32)).decode()}"
    message = restore_error(backed_up, "--force")
    assert f"The master key {key_id!r} of this instance is not the one" in message


def test_restore_with_force_replaces_the_instance_with_the_backup(backed_up, alice):
    from storage.reader import iter_content

    make_file(alice, "after-the-backup.txt", b"newer")
    assert File.objects.count() == 4
    call_command("restore", str(backed_up), "--force", stdout=open(os.devnull, "w"))  # noqa: SIM115
    assert sorted(File.objects.values_list("name", flat=True)) == ["a.txt", "b.txt", "c.txt"]
    a = File.objects.select_related("blob").get(name="a.txt")
    assert b"".join(iter_content(a.blob)) == b"a" * 100


def test_a_backup_directory_is_refused_by_restore_when_its_database_file_changed(backed_up):
    database = backed_up / "database.sqlite3"
    if not database.exists():
        database = backed_up / "database.pgdump"
    with open(database, "ab") as handle:
        handle.write(b"\0")
    message = restore_error(backed_up, "--force")
    assert "The database file does not match the manifest" in message


def test_a_backup_of_damaged_storage_fails_and_leaves_nothing_behind(
    transactional_db, local_storage_settings, tmp_path, alice
):
    make_file(alice, "a.txt", b"a")
    shutil.rmtree(local_storage_settings)
    with pytest.raises(CommandError, match="missing from storage") as raised:
        call_command("backup", str(tmp_path / "backup"), stdout=open(os.devnull, "w"))  # noqa: SIM115
    assert "they were not deleted by Locker, so the storage is damaged" in str(raised.value)
    assert not (tmp_path / "backup").exists()


def test_files_deleted_for_good_while_the_backup_copies_are_left_out_of_it(
    transactional_db, local_storage_settings, tmp_path, alice
):
    """A purge that commits after the database snapshot deletes objects the snapshot needs; the
    backup takes a new snapshot (without those files) and restores as if the purge came first."""
    from files.services import file_trash, trash_empty
    from storage.backup import backup_create
    from storage.reader import iter_content

    kept = make_file(alice, "kept.txt", b"kept")
    file_trash(file=make_file(alice, "purged.txt", b"purged"))
    lines = []

    def progress(line: str) -> None:
        lines.append(line)
        if line.startswith("Database snapshot 1 taken"):
            trash_empty(user=alice)  # as another process would, after the snapshot

    manifest = backup_create(directory=tmp_path / "backup", log=progress)
    assert manifest["snapshots_taken"] == 2
    assert "1 objects were deleted since the snapshot; taking a new one." in lines
    assert manifest["storage"]["objects"] == 1
    listed = (tmp_path / "backup" / "objects.tsv").read_text()
    assert listed.startswith(kept.blob.storage_key)
    call_command("restore", str(tmp_path / "backup"), "--force", stdout=open(os.devnull, "w"))  # noqa: SIM115
    assert list(File.objects.values_list("name", flat=True)) == ["kept.txt"]
    assert b"".join(iter_content(File.objects.get().blob)) == b"kept"


@pytest.mark.s3
def test_a_backup_of_local_storage_restores_into_an_s3_bucket(backed_up, request):
    from storage.backends import get_blobstore
    from storage.reader import iter_content

    request.getfixturevalue("s3_settings")
    assert get_blobstore().kind == "s3"
    call_command("restore", str(backed_up), "--force", stdout=open(os.devnull, "w"))  # noqa: SIM115
    files = list(File.objects.select_related("blob"))
    assert len(files) == 3
    for file in files:
        content = b"".join(iter_content(file.blob))
        assert hashlib.sha256(content).hexdigest() == file.sha256, file.name


def rewrite_manifest(backup: Path, change) -> None:
    """Edit the manifest as a newer Locker would have written it: its checksum recomputed."""
    from storage.backup import _canonical

    manifest = json.loads((backup / "manifest.json").read_text())
    manifest.pop("manifest_sha256")
    change(manifest)
    manifest["manifest_sha256"] = hashlib.sha256(_canonical(manifest)).hexdigest()
    (backup / "manifest.json").write_text(json.dumps(manifest))


def test_a_backup_made_by_a_newer_version_is_refused(backed_up):
    rewrite_manifest(
        backed_up, lambda manifest: manifest["database"]["migrations"].append("files.9999_future")
    )
    message = restore_error(backed_up, "--force")
    assert message.startswith("This backup was made by a newer version of Locker")
    assert "files.9999_future" in message
    assert File.objects.count() == 3


@pytest.mark.s3
def test_an_s3_backup_is_refused_by_an_instance_on_local_storage(
    transactional_db, s3_settings, tmp_path, alice, request
):
    make_file(alice, "a.txt", b"a")
    call_command("backup", str(tmp_path / "backup"), stdout=open(os.devnull, "w"))  # noqa: SIM115
    request.getfixturevalue("local_storage_settings")
    message = restore_error(tmp_path / "backup", "--force")
    assert "This backup's objects stayed in the S3 bucket" in message
    assert "LOCKER_STORAGE=s3" in message


def test_the_objects_of_a_snapshot_are_read_page_by_page_in_key_order(
    transactional_db, local_storage_settings, tmp_path, alice, monkeypatch
):
    from storage.dbsnapshot import SnapshotReader
    from storage.models import Blob

    monkeypatch.setattr(SnapshotReader, "PAGE", 2)
    for number in range(7):
        make_file(alice, f"{number}.txt", os.urandom(number * 10))
    call_command("backup", str(tmp_path / "backup"), stdout=open(os.devnull, "w"))  # noqa: SIM115
    listed = [line.split("\t")[0] for line in (tmp_path / "backup" / "objects.tsv").open()]
    assert listed == sorted(Blob.objects.values_list("storage_key", flat=True)) and len(listed) == 7


def test_a_later_backup_under_another_name_clears_what_a_killed_one_left(
    transactional_db, local_storage_settings, tmp_path, alice
):
    """Backups usually go to new, dated names: the next one in the same parent directory
    removes a killed backup's partial directory (a database dump, maybe keys) whatever its
    name."""
    make_file(alice, "a.txt", b"a" * 100)
    killed = tmp_path / ".backup-monday.partial"
    killed.mkdir()
    (killed / "database.sqlite3").write_bytes(b"half a dump")
    call_command("backup", str(tmp_path / "backup-tuesday"), stdout=open(os.devnull, "w"))  # noqa: SIM115
    assert not killed.exists()
    assert (tmp_path / "backup-tuesday" / "manifest.json").exists()
