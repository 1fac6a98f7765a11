from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SharingConfig(AppConfig):
    name = "sharing"
    verbose_name = _("Sharing")

    def ready(self):
        from django.core import checks

        import sharing.tasks  # noqa: F401 - registers the tasks the services queue by name
        from files.link_uploads import (
            link_upload_probe_counter_register,
            link_upload_receiver_register,
        )
        from sharing.checks import sharing_settings_check
        from sharing.upload_links import upload_link_probe_count, upload_link_receive

        checks.register(sharing_settings_check)
        # A tus upload through a link becomes a file in files/tus.py, which imports nothing of
        # this app: it calls the receiver registered here.
        link_upload_receiver_register(upload_link_receive)
        # And an upload through a link that ended with nothing kept is a probe of the owner's
        # quota, counted in the link's budget (finding M1).
        link_upload_probe_counter_register(upload_link_probe_count)
