from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class StorageConfig(AppConfig):
    name = "storage"
    verbose_name = _("Encrypted storage")

    def ready(self):
        from django.core import checks

        from storage.checks import (
            check_master_keys,
            master_key_backup_check,
            s3_public_bucket_check,
        )

        checks.register(check_master_keys, checks.Tags.security)
        checks.register(master_key_backup_check, checks.Tags.security, deploy=True)
        checks.register(s3_public_bucket_check, checks.Tags.security, deploy=True)
