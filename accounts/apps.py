from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = _("Accounts")

    def ready(self):
        from django.core import checks

        from accounts import signals  # noqa: F401 - connects the receivers
        from accounts.oidc import oidc_settings_check

        checks.register(oidc_settings_check, checks.Tags.security)
