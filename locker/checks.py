"""System checks of the project's settings (`manage.py check`), registered in
LockerConfig.ready().
"""

import ipaddress

from django.conf import settings
from django.core.checks import Error, Warning

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


def ldap_cleartext_check(app_configs=None, **kwargs):
    """accounts.W001: directory passwords would cross the network in clear (plain ldap://,
    without StartTLS, to a host other than this machine)."""
    url = settings.LOCKER_LDAP_URL
    if not url.lower().startswith("ldap://") or settings.LOCKER_LDAP_START_TLS:
        return []
    from urllib.parse import urlsplit

    host = urlsplit(url).hostname or ""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if loopback:
        return []
    return [
        Warning(
            f"LOCKER_LDAP_URL is {url} without LOCKER_LDAP_START_TLS: every password typed in the "
            "log-in form goes to the directory in clear.",
            hint="Use ldaps://, or set LOCKER_LDAP_START_TLS=true.",
            id="accounts.W001",
        )
    ]
