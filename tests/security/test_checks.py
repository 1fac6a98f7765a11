"""Locker's own system checks for dangerous production settings."""

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from files import checks as files_checks
from locker import checks as locker_checks
from storage import checks


def test_debug_with_a_public_host_is_an_error():
    with override_settings(DEBUG=True, ALLOWED_HOSTS=["files.example.org", "localhost"]):
        (problem,) = locker_checks.debug_with_public_host_check()
        assert problem.id == "locker.E001"
        assert "files.example.org" in problem.msg
        with pytest.raises(SystemCheckError, match="locker.E001"):
            call_command("check")


def test_debug_on_a_local_host_is_fine():
    with override_settings(DEBUG=True, ALLOWED_HOSTS=["localhost", "127.0.0.1", "10.0.0.5"]):
        assert locker_checks.debug_with_public_host_check() == []
    with override_settings(DEBUG=False, ALLOWED_HOSTS=["files.example.org"]):
        assert locker_checks.debug_with_public_host_check() == []


def test_master_key_only_in_the_data_dir_is_warned_about(monkeypatch):
    monkeypatch.delenv("LOCKER_MASTER_KEYS", raising=False)
    (problem,) = checks.master_key_backup_check()
    assert problem.id == "locker.W001" and "master.key" in problem.msg
    monkeypatch.setenv("LOCKER_MASTER_KEYS", "k1:AAAA")
    assert checks.master_key_backup_check() == []


def test_no_scanner_with_upload_links_is_warned_about(settings):
    settings.LOCKER_SCANNER = "none"
    assert [p.id for p in files_checks.scanner_with_upload_links_check()] == ["locker.W003"]
    settings.LOCKER_SCANNER = "clamav"
    assert files_checks.scanner_with_upload_links_check() == []


def test_a_public_acl_grant_is_recognised():
    public = {"Grants": [{"Grantee": {"URI": "http://acs.amazonaws.com/groups/global/AllUsers"}}]}
    private = {"Grants": [{"Grantee": {"ID": "owner"}, "Permission": "FULL_CONTROL"}]}
    assert checks.acl_grants_public(public) and not checks.acl_grants_public(private)


def test_s3_bucket_check_stays_quiet_on_a_private_bucket(s3_settings, settings):
    settings.LOCKER_STORAGE = "s3"
    assert checks.s3_public_bucket_check() == []


def test_s3_bucket_readable_by_everyone_is_warned_about(s3_settings, s3_server, settings):
    """A real S3 server (SeaweedFS) with a public-read bucket ACL."""
    settings.LOCKER_STORAGE = "s3"
    client = s3_server.client()
    client.put_bucket_acl(Bucket=s3_server.bucket, ACL="public-read")
    try:
        assert [p.id for p in checks.s3_public_bucket_check()] == ["locker.W002"]
    finally:
        client.put_bucket_acl(Bucket=s3_server.bucket, ACL="private")
    assert checks.s3_public_bucket_check() == []


def test_deploy_checks_run_under_check_deploy(monkeypatch, capsys):
    monkeypatch.delenv("LOCKER_MASTER_KEYS", raising=False)
    call_command("check", "--deploy", "--fail-level", "CRITICAL")
    err = capsys.readouterr()
    assert "locker.W001" in err.out + err.err
