"""Uploads through an upload link, as far as the files app knows them.

The files app never imports the sharing app, which owns upload links. Yet a tus upload made
through a link becomes a file in a PATCH that files/tus.py handles, and what that takes is the
link's business (count the file against the link's maximum, log it for the owner, notify them).
So sharing registers its receiver here when it starts (`SharingConfig.ready()` registers
`sharing.upload_links.upload_link_receive`), and files calls `link_upload_receive()`.

Likewise for probes of the owner's quota (finding M1, docs/security.md): an upload through a
link whose reservation ends with nothing kept (its holder cancelled it, it expired before a byte
arrived, its request failed) told its holder that its declared size fit, for free. Files says
so with `link_upload_probed()` where such a reservation ends, and sharing counts it in the
link's budget (`sharing.upload_links.upload_link_probe_count`, registered in ready()).
"""

from collections.abc import Callable

from django.core.exceptions import ImproperlyConfigured


class UploadRefused(Exception):
    """A link refuses an upload: `status` is the HTTP answer, `message` a sentence for the
    uploader (never the owner's quota figures), `retry_after` seconds when waiting helps, `code`
    the error code of the answer (locker.errors.ErrorCode; None: the status's)."""

    def __init__(
        self,
        message: str,
        *,
        status: int = 400,
        retry_after: int | None = None,
        code: str | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.status = status
        self.retry_after = retry_after
        self.code = code


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


# probe_counter(link_id=…): one more probe of the owner's quota through that link.
LinkProbeCounter = Callable[..., None]

_probe_counter: LinkProbeCounter | None = None


def link_upload_probe_counter_register(counter: LinkProbeCounter) -> None:
    """Name the function that counts an upload through a link that ended with nothing kept."""
    global _probe_counter
    _probe_counter = counter


def link_upload_probed(*, link_id: int | None) -> None:
    """An upload through link `link_id` ended without keeping a byte: count it (call after the
    transaction that ended it). Nothing for an account's own uploads (`link_id` None)."""
    if link_id is None:
        return
    if _probe_counter is None:
        raise ImproperlyConfigured("No installed app counts probes through upload links.")
    _probe_counter(link_id=link_id)
