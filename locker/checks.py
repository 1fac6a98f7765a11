"""System checks of the project's settings (`manage.py check`), registered in
LockerConfig.ready().
"""

import ipaddress

from django.conf import settings
from django.core.checks import Error

LOCAL_HOSTS = {"localhost", "127.0.0.1", "[::1]", "::1", "testserver"}


def _is_local(host: str) -> bool:
    host = host.strip().lstrip(".")
    if host in LOCAL_HOSTS or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return address.is_loopback or address.is_private


def debug_with_public_host_check(app_configs=None, **kwargs):
    """locker.E001: DEBUG on while the site answers to public host names."""
    public = [host for host in settings.ALLOWED_HOSTS if not _is_local(host)]
    if settings.DEBUG and public:
        return [
            Error(
                "DEBUG is on while the site answers to public host names "
                f"({', '.join(public)}): error pages would show settings and source code.",
                hint="Unset DEBUG in production.",
                id="locker.E001",
            )
        ]
    return []
