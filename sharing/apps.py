from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SharingConfig(AppConfig):
    name = "sharing"
    verbose_name = _("Sharing")

    def ready(self):
        from django.core import checks

        from sharing.checks import sharing_settings_check

        checks.register(sharing_settings_check)
