"""Uploads through an upload link, as far as the files app knows them.

The files app never imports the sharing app, which owns upload links. Yet a tus upload made
through a link becomes a file in a PATCH that files/tus.py handles, and what that takes is the
link's business (count the file against the link's maximum, log it for the owner, notify them).
So sharing registers its receiver here when it starts (`SharingConfig.ready()` registers
`sharing.upload_links.upload_link_receive`), and files calls `link_upload_receive()`.
"""

from collections.abc import Callable

from django.core.exceptions import ImproperlyConfigured


class UploadRefused(Exception):
    """A link refuses an upload: `status` is the HTTP answer, `message` a sentence for the
    uploader (never the owner's quota figures), `retry_after` seconds when waiting helps."""

    def __init__(self, message: str, *, status: int = 400, retry_after: int | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.retry_after = retry_after


# receiver(link=…, contents=[NewFileContent], reservation=…, ip=…) → the files created.
LinkUploadReceiver = Callable[..., list]

_receiver: LinkUploadReceiver | None = None


def link_upload_receiver_register(receiver: LinkUploadReceiver) -> None:
    """Name the function that turns stored contents received through a link into files."""
    global _receiver
    _receiver = receiver


def link_upload_receive(*, link, contents: list, reservation, ip: str | None) -> list:
    """Create the files of an upload through `link` (in the caller's transaction); raises
    UploadRefused when the link takes no more, or what files_create raises."""
    if _receiver is None:
        raise ImproperlyConfigured("No installed app receives uploads through upload links.")
    return _receiver(link=link, contents=contents, reservation=reservation, ip=ip)
