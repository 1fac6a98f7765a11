from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FilesConfig(AppConfig):
    name = "files"
    verbose_name = _("Files")

    def ready(self):
        # Registers the system checks: a malformed LOCKER_MASTER_KEYS (files.E001), an unusable
        # scanner configuration (files.E002/E003).
        from files import keys, scanning  # noqa: F401
