"""Every system check is registered once, by its app's ready(), with its id unchanged."""

from django.core.checks.registry import registry

from files.checks import check_scanner, scanner_with_upload_links_check
from locker.checks import debug_with_public_host_check
from sharing.checks import sharing_settings_check
from storage.checks import check_master_keys, master_key_backup_check, s3_public_bucket_check


def test_every_check_is_registered_once():
    always = registry.get_checks(include_deployment_checks=False)
    with_deploy = registry.get_checks(include_deployment_checks=True)
    for check in (
        debug_with_public_host_check,
        check_master_keys,
        check_scanner,
        sharing_settings_check,
    ):
        assert always.count(check) == 1, check.__name__
    for check in (master_key_backup_check, s3_public_bucket_check, scanner_with_upload_links_check):
        assert check not in always, check.__name__
        assert with_deploy.count(check) == 1, check.__name__
