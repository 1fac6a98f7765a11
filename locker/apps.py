from django.apps import AppConfig


class LockerConfig(AppConfig):
    """The project package as an app, for the system checks of its settings (no models)."""

    name = "locker"
    verbose_name = "Locker"

    def ready(self):
        from django.core import checks

        from locker.checks import debug_with_public_host_check, ldap_cleartext_check

        checks.register(debug_with_public_host_check, checks.Tags.security)
        checks.register(ldap_cleartext_check, checks.Tags.security)
