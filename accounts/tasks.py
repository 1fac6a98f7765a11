"""Celery tasks of the accounts app: thin wrappers around services."""

from celery import shared_task

from accounts.audit import audit_prune
from accounts.services import password_reset_send


@shared_task(autoretry_for=(Exception,), retry_backoff=True, max_retries=5)
def prune_audit() -> int:
    return audit_prune()


@shared_task(autoretry_for=(Exception,), retry_backoff=True, max_retries=5)
def send_password_reset(email: str) -> int:
    return password_reset_send(email=email)


@shared_task(autoretry_for=(Exception,), retry_backoff=True, max_retries=5)
def ldap_members_recheck() -> int:
    from accounts.ldap import directory_members_recheck

    return directory_members_recheck()
