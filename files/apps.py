from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FilesConfig(AppConfig):
    name = "files"
    verbose_name = _("Files")

    def ready(self):
        from django.core import checks

        # The services queue the tasks by name (locker.celery.task_queue): registered here.
        import files.tasks  # noqa: F401
        from accounts.scopes import folder_lookup_register
        from files.checks import check_scanner, scanner_with_upload_links_check
        from files.selectors import confined_subtree, folder_for_token

        folder_lookup_register(folder_for_token, subtree=confined_subtree)
        # files.E001 (LOCKER_MASTER_KEYS) is the storage app's (storage/checks.py).
        checks.register(check_scanner, checks.Tags.security)
        checks.register(scanner_with_upload_links_check, checks.Tags.security, deploy=True)
