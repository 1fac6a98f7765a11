from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class StorageConfig(AppConfig):
    name = "storage"
    verbose_name = _("Encrypted storage")

    def ready(self):
        from django.core import checks

        from storage.checks import check_master_keys

        checks.register(check_master_keys, checks.Tags.security)
