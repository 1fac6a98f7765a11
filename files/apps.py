from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FilesConfig(AppConfig):
    name = "files"
    verbose_name = _("Files")

    def ready(self):
        # Registers the system checks of an unusable scanner configuration (files.E002/E003);
        # files.E001 (LOCKER_MASTER_KEYS) is the storage app's (storage/checks.py).
        from files import scanning  # noqa: F401
