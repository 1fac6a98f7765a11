"""System checks of the virus-scanner settings (files/scanning.py), registered in
FilesConfig.ready(). `locker.W003` keeps the id it had in accounts/checks.py.
"""

from urllib.parse import urlsplit

from django.conf import settings
from django.core import checks


def check_scanner(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """files.E002/E003: a configured scanner must be usable."""
    kind = settings.LOCKER_SCANNER
    if kind == "command" and not settings.LOCKER_SCAN_COMMAND.strip():
        return [
            checks.Error(
                "LOCKER_SCANNER=command needs LOCKER_SCAN_COMMAND (the program to run).",
                id="files.E002",
            )
        ]
    if kind == "clamav" and urlsplit(settings.LOCKER_CLAMD_URL).scheme not in ("unix", "tcp"):
        return [
            checks.Error(
                "LOCKER_CLAMD_URL must be unix:///path/to/clamd.sock or tcp://host:port.",
                id="files.E003",
            )
        ]
    return []


def scanner_with_upload_links_check(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """locker.W003 (with --deploy): no scanner while strangers can upload through links."""
    if settings.LOCKER_SCANNER == "none":
        return [
            checks.Warning(
                "No virus scanner is configured (LOCKER_SCANNER=none) while upload links let "
                "strangers send files into your users' folders.",
                hint="Set LOCKER_SCANNER=clamav (or command) — see docs/workers.md.",
                id="locker.W003",
            )
        ]
    return []
