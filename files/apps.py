from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FilesConfig(AppConfig):
    name = "files"
    verbose_name = _("Files")

    def ready(self):
        # Registers the system check that refuses a malformed LOCKER_MASTER_KEYS.
        from files import keys  # noqa: F401
