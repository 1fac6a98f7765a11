"""Celery tasks of the sharing app: thin, idempotent, arguments are ids."""

from celery import shared_task

from sharing import services


@shared_task(autoretry_for=(Exception,), retry_backoff=True, max_retries=5)
def cleanup_shares() -> dict[str, int]:
    return services.shares_cleanup()


@shared_task(autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def notify_share_download(access_id: int) -> None:
    services.share_notify_owner(access_id=access_id)


@shared_task(autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def notify_upload_link_owner(link_id: int) -> int:
    from sharing.upload_links import upload_link_notify_owner

    return upload_link_notify_owner(link_id=link_id)
