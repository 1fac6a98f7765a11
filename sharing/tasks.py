"""Celery tasks of the sharing app: thin, idempotent, arguments are ids."""

from celery import shared_task

from sharing import services


@shared_task(autoretry_for=(Exception,), retry_backoff=True, max_retries=5)
def cleanup_shares() -> dict[str, int]:
    return services.shares_cleanup()


@shared_task(autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def notify_share_downloads(share_id: int) -> int:
    return services.share_notify_owner(share_id=share_id)


@shared_task(autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def notify_share_download(access_id: int) -> int:
    """The per-download task of earlier versions, for messages still queued: it reports its
    link's downloads not yet reported, as `notify_share_downloads` does."""
    from sharing.models import ShareAccess

    share_id = ShareAccess.objects.filter(pk=access_id).values_list("share_id", flat=True).first()
    return services.share_notify_owner(share_id=share_id) if share_id else 0


@shared_task(autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def notify_upload_link_owner(link_id: int) -> int:
    from sharing.upload_links import upload_link_notify_owner

    return upload_link_notify_owner(link_id=link_id)


@shared_task(autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_share_link_email(
    share_id: int, recipients: list[str], message: str, sender_id: int
) -> int:
    from sharing.link_email import share_link_email_send

    return share_link_email_send(
        share_id=share_id, recipients=recipients, message=message, sender_id=sender_id
    )
