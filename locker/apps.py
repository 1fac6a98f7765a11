from django.apps import AppConfig


class LockerConfig(AppConfig):
    """The project package as an app: the system checks of its settings, and the answers kept
    for `Idempotency-Key` (locker.models)."""

    name = "locker"
    verbose_name = "Locker"

    def ready(self):
        from django.core import checks

        from locker.checks import debug_with_public_host_check, ldap_cleartext_check

        checks.register(debug_with_public_host_check, checks.Tags.security)
        checks.register(ldap_cleartext_check, checks.Tags.security)
        # `manage.py rotatekeys` (storage) re-seals the kept answers with the data keys.
        from locker.idempotency import SEALED_PURPOSE
        from locker.models import IdempotentRequest
        from storage.masterkeys import SealedColumn, sealed_column_register

        sealed_column_register(
            SealedColumn(
                model=IdempotentRequest,
                purpose=SEALED_PURPOSE,
                key_id_field="master_key_id",
                sealed_field="sealed_answer",
                context_field="key_hash",
            )
        )
