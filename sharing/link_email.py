"""Sending a share link by e-mail from the Share dialog (or `POST /api/v1/shares/<id>/email/`).

The request only checks and queues: the worker sends (`sharing.tasks.send_share_link_email`),
like every other e-mail of Locker. The task takes the link's id, not its token: the token never
travels through the broker; the worker opens the link's sealed token itself. Recipients are
counted per sender in the shared cache (`LOCKER_SHARE_EMAIL_PER_HOUR`), before anything is
queued, so the dialog cannot be used to flood mailboxes.
"""

import logging

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.core.validators import validate_email
from django.db import transaction
from django.template.loader import render_to_string
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts.audit import A, audit
from locker.celery import task_queue
from locker.i18n import for_recipient
from locker.throttle import Throttle
from sharing.models import ShareLink

logger = logging.getLogger(__name__)

MAX_RECIPIENTS = 20
MAX_MESSAGE = 2000


class TooManyEmails(Exception):
    """The sender has used up the e-mails allowed this hour; `wait` is the seconds left."""

    def __init__(self, wait: int):
        self.wait = wait
        minutes = max(1, -(-wait // 60))
        super().__init__(
            ngettext(
                "You have sent too many links by e-mail. Try again in %(n)d minute.",
                "You have sent too many links by e-mail. Try again in %(n)d minutes.",
                minutes,
            )
            % {"n": minutes}
        )


def _throttle() -> Throttle:
    return Throttle("sharing-email", limit=settings.LOCKER_SHARE_EMAIL_PER_HOUR, window=3600)


def recipients_clean(recipients: list[str]) -> list[str]:
    """The addresses, trimmed and without repeats (case-insensitive); a ValidationError on
    `recipients` naming the first address that is not one."""
    cleaned: list[str] = []
    seen: set[str] = set()
    for raw in recipients:
        address = (raw or "").strip()
        if not address:
            continue
        try:
            validate_email(address)
        except ValidationError:
            raise ValidationError(
                {"recipients": _("“%(address)s” is not an e-mail address.") % {"address": address}}
            ) from None
        if address.lower() not in seen:
            seen.add(address.lower())
            cleaned.append(address)
    if not cleaned:
        raise ValidationError({"recipients": _("Enter at least one e-mail address.")})
    if len(cleaned) > MAX_RECIPIENTS:
        raise ValidationError(
            {"recipients": _("Send to at most %(n)d addresses at a time.") % {"n": MAX_RECIPIENTS}}
        )
    return cleaned


def share_link_email(*, share: ShareLink, sender, recipients: list[str], message: str = "") -> int:
    """Check and queue the e-mail of `share` (the sender's own link, scoped by the caller) to
    `recipients`; returns how many addresses it goes to. Raises ValidationError (field errors)
    or TooManyEmails."""
    from sharing.access import link_dead_reason

    addresses = recipients_clean(recipients)
    message = (message or "").strip()
    if len(message) > MAX_MESSAGE:
        raise ValidationError(
            {"message": _("Keep the message under %(n)d characters.") % {"n": MAX_MESSAGE}}
        )
    reason = link_dead_reason(share)
    if reason:
        raise ValidationError({"non_field_errors": _("This link no longer works: %s") % reason})
    if not share.token_key_id:
        raise ValidationError(
            {
                "non_field_errors": _(
                    "This link was shown only at creation and cannot be sent: create a new one."
                )
            }
        )
    throttle, ident = _throttle(), str(sender.pk)
    for taken, _address in enumerate(addresses, start=1):
        wait = throttle.take(ident)
        if wait is not None:
            for _given in range(taken):  # this one and those before it
                throttle.give_back(ident)
            raise TooManyEmails(wait)
    with transaction.atomic():
        # The log keeps how many, not who: the addresses are the recipients' personal data.
        audit(A.SHARE_EMAILED, actor=sender, target=share, recipients=len(addresses))
        # One task per address: a task retried after an SMTP error sends only its own e-mail
        # again, never those that already went out.
        for address in addresses:
            args = (share.pk, [address], message, sender.pk)
            transaction.on_commit(
                lambda args=args: task_queue("sharing.tasks.send_share_link_email", args)
            )
    return len(addresses)


def share_link_email_send(
    *, share_id: int, recipients: list[str], message: str, sender_id: int
) -> int:
    """The worker's half: one e-mail per recipient (no one sees the others' addresses), with
    the link opened from its sealed token. A link gone, revoked or dead meanwhile sends nothing."""
    from sharing.access import link_dead_reason
    from sharing.selectors import share_title
    from sharing.services import link_url_again

    share = (
        ShareLink.objects.select_related("owner", "file", "folder")
        .filter(pk=share_id, owner_id=sender_id)
        .first()
    )
    if share is None or link_dead_reason(share):
        return 0
    url = link_url_again(share)
    if url is None:
        return 0
    context = {
        "sender": share.owner.public_name,
        # What the link's page calls it: a selection share's label (or "N items"), never the
        # name of the folder its items were picked in, which the link does not share.
        "name": share_title(share) if share.target else "",
        "is_folder": bool(share.folder_id),
        "url": url,
        "message": message,
        "expires_at": share.expires_at,
        "has_password": share.has_password,
    }
    sent = 0
    for address in recipients:
        # In the recipient's language when they have an account here, else LOCKER_LANGUAGE.
        with for_recipient(email=address):
            subject = " ".join(render_to_string("sharing/email/link_subject.txt", context).split())
            text = render_to_string("sharing/email/link.txt", context)
            html = render_to_string("sharing/email/link.html", context)
        email = EmailMultiAlternatives(subject=subject, body=text, to=[address])
        email.attach_alternative(html, "text/html")
        email.send(fail_silently=False)
        sent += 1
    return sent
