from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SharingConfig(AppConfig):
    name = "sharing"
    verbose_name = _("Sharing")

    def ready(self):
        import sharing.tasks  # noqa: F401 - registers the tasks the services queue by name
        from files.link_uploads import link_upload_receiver_register
        from sharing import checks  # noqa: F401 - registers the system checks
        from sharing.upload_links import upload_link_receive

        # A tus upload through a link becomes a file in files/tus.py, which imports nothing of
        # this app: it calls the receiver registered here.
        link_upload_receiver_register(upload_link_receive)
