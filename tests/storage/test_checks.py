"""The storage engine's system checks run with `manage.py check` (registered in
StorageConfig.ready, ids unchanged)."""

from django.core.checks import run_checks


def test_a_malformed_master_key_setting_fails_manage_py_check(settings):
    settings.LOCKER_MASTER_KEYS = "no-colon-here"
    assert "files.E001" in [message.id for message in run_checks()]


def test_a_good_master_key_setting_passes_manage_py_check():
    assert "files.E001" not in [message.id for message in run_checks()]
