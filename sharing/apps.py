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
        # `manage.py rotatekeys` (storage) re-seals the links' tokens with the data keys.
        from sharing.models import ShareLink, UploadLink
        from sharing.tokens import token_purpose
        from storage.masterkeys import SealedColumn, sealed_column_register

        for model in (ShareLink, UploadLink):
            sealed_column_register(
                SealedColumn(
                    model=model,
                    purpose=token_purpose(model.kind),
                    key_id_field="token_key_id",
                    sealed_field="token_sealed",
                    context_field="public_id",
                )
            )
        # The audit pages name an unlabelled link by what it shares, in one query a page.
        from accounts.audit import audit_target_labeller_register
        from sharing.selectors import share_links_describe, upload_links_describe

        audit_target_labeller_register("sharelink", share_links_describe)
        audit_target_labeller_register("uploadlink", upload_links_describe)
        # A tus upload through a link becomes a file in files/tus.py, which imports nothing of
        # this app: it calls the receiver registered here.
        link_upload_receiver_register(upload_link_receive)
        # And an upload through a link that ended with nothing kept is a probe of the owner's
        # quota, counted in the link's budget (finding M1).
        link_upload_probe_counter_register(upload_link_probe_count)
