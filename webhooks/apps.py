from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = _("Webhooks")

    def ready(self):
        import webhooks.tasks  # noqa: F401 - registers the tasks the services queue by name

        # `manage.py rotatekeys` (storage) re-seals the endpoints' signing secrets too.
        from storage.masterkeys import SealedColumn, sealed_column_register
        from webhooks.models import SECRET_PURPOSE, Webhook

        sealed_column_register(
            SealedColumn(
                model=Webhook,
                purpose=SECRET_PURPOSE,
                key_id_field="secret_key_id",
                sealed_field="secret_sealed",
                context_field="public_id",
            )
        )
