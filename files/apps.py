from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FilesConfig(AppConfig):
    name = "files"
    verbose_name = _("Files")

    def ready(self):
        # The services queue the tasks by name (locker.celery.task_queue): registered here.
        import files.tasks  # noqa: F401

        # Registers the system checks of an unusable scanner configuration (files.E002/E003);
        # files.E001 (LOCKER_MASTER_KEYS) is the storage app's (storage/checks.py).
        from files import scanning  # noqa: F401
