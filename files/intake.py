"""The multipart upload intake: one request's `file` parts streamed into encrypted storage.

Every form upload goes through `multipart_intake()` — the files API (`POST /api/v1/files/`),
quick send (`POST /api/v1/send/`) and upload links (`POST /r/<token>/upload`): the
Content-Length check, the quota reservation (the caller says whose and within which room), the
streaming handler, the parse, the interrupted and empty checks, the stored contents as
`NewFileContent`, the discard of everything stored when anything fails, and the release of the
reservation. It raises the typed errors below; each way in maps them to its own answers (an
upload link never shows its owner's quota figures).

Nothing holds a whole file: not memory, not a plaintext temporary file. Each `file` part is
written through `content_writer()` as it is parsed; its SHA-256 and first bytes are computed on
the way. Whatever goes wrong (a limit, a broken body, a client that disconnects, an error later
in the request) the writer is aborted or the finished blobs are deleted, so a failed upload
leaves nothing behind; what a crash leaves is reclaimed by `cleanup_partial_uploads`. The quota
reservation is a lease that `ReservationLease` renews while bytes arrive: a request that dies
stops counting against the quota within LOCKER_UPLOAD_LEASE (docs/files.md).
"""

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import SuspiciousOperation
from django.core.files.uploadhandler import FileUploadHandler, SkipFile
from django.http import HttpRequest, QueryDict, UnreadablePostError
from django.utils.translation import gettext as _

from files import multipart, services
from files.link_uploads import link_upload_probed
from files.models import UploadReservation
from files.names import InvalidName, validate_name
from locker import metrics
from locker.env import SizeTooLarge, parse_byte_count
from locker.formats import size_text
from storage.blobs import delete_blob
from storage.models import Blob
from storage.writer import ContentWriter, content_writer

logger = logging.getLogger(__name__)

CHUNK_SIZE = 1024 * 1024
# Room for the multipart framing around a file that is exactly as large as a limit allows.
MULTIPART_ALLOWANCE = 64 * 1024


# --- what can go wrong ------------------------------------------------------------------------


class IntakeError(Exception):
    """An upload refused or broken; nothing of it is kept. `status` is the HTTP status the
    ways in answer with, `message` a sentence a person understands."""

    status = 400

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class LengthRequired(IntakeError):
    """No Content-Length, or not a whole number."""

    status = 411


class TooLarge(IntakeError):
    """The body, or one file of it, is larger than a limit allows."""

    status = 413


class NotMultipart(IntakeError):
    """The body is not multipart/form-data; `content_type` is what the client declared."""

    status = 415

    def __init__(self, content_type: str):
        super().__init__(_("Send the files as multipart/form-data."))
        self.content_type = content_type


class OverQuota(IntakeError):
    """The reservation's lease lapsed while the request stalled and its room was taken. The
    message states the owner's quota figures: a stranger's upload must not show it."""

    status = 507


class LongerThanDeclared(IntakeError):
    """The body sent more bytes than its Content-Length (the reservation) announced."""

    status = 507


class Cancelled(IntakeError):
    """The reservation was cancelled (by its owner, a revoked link) or reclaimed."""

    status = 410


class InvalidFileName(IntakeError):
    """A file part's name is refused (files.names); refused before a byte of it is stored."""

    def __init__(self, messages: list[str]):
        super().__init__(" ".join(messages))
        self.messages = messages


class Unreadable(IntakeError):
    """The body is not valid multipart/form-data, or exceeds the parser's bounds."""


class Interrupted(IntakeError):
    """The body ended before its closing boundary."""


class ClientGone(IntakeError):
    """The client went away while sending (the server could not read the body)."""


class NoFileSent(IntakeError):
    """The body holds no `file` part."""


class EmptyBody(NoFileSent):
    """Content-Length: 0: no body at all."""


# --- the request ------------------------------------------------------------------------------


def request_content_length(meta) -> int:
    """The request's declared body size, before anything is reserved or read.

    LengthRequired when Content-Length is missing or not a whole number; TooLarge beyond
    2^63 - 1 bytes, which no quota reservation could record.
    """
    try:
        return parse_byte_count(meta.get("CONTENT_LENGTH") or "")
    except SizeTooLarge:
        raise TooLarge(_("This upload is larger than Locker can store.")) from None
    except ValueError:
        raise LengthRequired(_("Send the upload with a Content-Length header.")) from None


class ReservationLease:
    """Keeps an upload's quota reservation alive while its bytes arrive.

    `touch()` renews the lease at most every LOCKER_UPLOAD_LEASE / 4 seconds (one UPDATE), so a
    request that crashed, was killed or lost its client stops counting within the lease. A
    reservation cancelled meanwhile stops the upload (Cancelled); one that lapsed and whose room
    was taken stops it too (OverQuota).
    """

    def __init__(self, reservation: UploadReservation):
        self.reservation = reservation
        self._every = settings.LOCKER_UPLOAD_LEASE / 4
        self._renewed = time.monotonic()

    def touch(self) -> None:
        if time.monotonic() - self._renewed >= self._every:
            self.renew()

    def renew(self) -> None:
        try:
            services.upload_reservation_renew(reservation=self.reservation)
        except services.UploadCancelled as exc:
            raise Cancelled(str(exc)) from None
        except services.QuotaExceeded as exc:
            raise OverQuota(str(exc)) from None
        self._renewed = time.monotonic()

    def file_started(self, name: str) -> None:
        """A new file part begins: name it for the owner's list of uploads in progress."""
        if services.upload_reservation_name(reservation=self.reservation, name=name):
            self._renewed = time.monotonic()
        else:
            self.renew()


@dataclass
class StoredUpload:
    """One file part, stored completely in a blob, not yet a File."""

    field_name: str
    name: str
    blob: Blob
    size: int
    sha256: str
    head: bytes


class StreamingUploadHandler(FileUploadHandler):
    """Streams each part named `field_name` into a new encrypted blob.

    `max_file_size` (0 = unlimited) caps each file; `budget` caps the bytes of all files in the
    request (the quota reservation). Exceeding either stops the upload at once. `lease` (the
    request's reservation) is renewed while the bytes arrive and owns the blobs written.
    """

    chunk_size = CHUNK_SIZE

    def __init__(
        self,
        request=None,
        *,
        field_name: str = "file",
        max_file_size=0,
        budget=None,
        before_first_file=None,
        lease: ReservationLease | None = None,
    ):
        super().__init__(request)
        self.lease = lease
        self.accepted_field = field_name
        # Called with the form fields parsed so far, before the first byte of the first file is
        # stored: lets the view refuse (say, an unknown folder) without storing anything.
        self.before_first_file = before_first_file
        self.parser = None  # set by files.multipart.parse_multipart
        self.max_file_size = max_file_size
        self.budget = budget
        self.stored: list[StoredUpload] = []
        self.interrupted = False
        self._writer: ContentWriter | None = None
        self._total = 0

    def new_file(self, field_name, file_name, *args, **kwargs):
        super().new_file(field_name, file_name, *args, **kwargs)
        if field_name != self.accepted_field:
            raise SkipFile
        try:
            validate_name(file_name)
        except InvalidName as exc:
            # Refused before a byte of it is stored.
            raise InvalidFileName(exc.messages) from None
        if self.before_first_file is not None:
            check, self.before_first_file = self.before_first_file, None
            check(self.parser.fields() if self.parser is not None else None)
        if self.lease is not None:
            self.lease.file_started(file_name)
        self._writer = content_writer(
            holder=self.lease.reservation.pk if self.lease is not None else None
        )

    def receive_data_chunk(self, raw_data, start):
        self._total += len(raw_data)
        if self.max_file_size and start + len(raw_data) > self.max_file_size:
            raise TooLarge(
                _("This file is larger than the %(max)s limit for one upload.")
                % {"max": size_text(self.max_file_size)}
            )
        if self.budget is not None and self._total > self.budget:
            raise LongerThanDeclared(_("The upload sent more bytes than it announced."))
        if self.lease is not None:
            self.lease.touch()
        self._writer.write(raw_data)
        metrics.uploaded("multipart", len(raw_data))
        return None

    def file_complete(self, file_size):
        writer, self._writer = self._writer, None
        if writer is None:
            return None
        try:
            blob = writer.finish()
        except BaseException:
            writer.abort()
            raise
        stored = StoredUpload(
            field_name=self.field_name,
            name=self.file_name,
            blob=blob,
            size=writer.size,
            sha256=writer.sha256.hexdigest(),
            head=writer.head,
        )
        self.stored.append(stored)
        return stored

    def upload_interrupted(self):
        self.interrupted = True
        self._abort_current()

    def _abort_current(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.abort()

    def discard(self) -> None:
        """Forget everything this request stored. Never raises."""
        self._abort_current()
        stored, self.stored = self.stored, []
        for upload in stored:
            try:
                delete_blob(upload.blob)
            except Exception:
                logger.warning("Could not delete blob %s", upload.blob.pk, exc_info=True)


# --- the intake -------------------------------------------------------------------------------


@dataclass
class ReceivedUpload:
    """What one request stored, inside its reservation, waiting for the caller's File rows."""

    fields: QueryDict
    uploads: list[StoredUpload]
    reservation: UploadReservation
    contents: list[services.NewFileContent] = field(init=False)

    def __post_init__(self):
        self.contents = [
            services.NewFileContent(
                name=upload.name,
                blob=upload.blob,
                size=upload.size,
                sha256=upload.sha256,
                content_type=services.content_type_detect(upload.head),
            )
            for upload in self.uploads
        ]


def _parse(request: HttpRequest, length: int, handler: StreamingUploadHandler) -> QueryDict:
    if length == 0:
        raise EmptyBody(_("No file was sent."))
    try:
        fields, _files = multipart.parse_multipart(
            request,
            request.META.get("CONTENT_TYPE", ""),
            handler,
            encoding=request.encoding or settings.DEFAULT_CHARSET,
        )
    except multipart.Interrupted:
        raise Interrupted(
            _("The upload was interrupted before it was complete; nothing was kept.")
        ) from None
    except (multipart.MalformedMultipart, SuspiciousOperation) as exc:
        raise Unreadable(
            _("The multipart body could not be read: %(error)s") % {"error": exc}
        ) from None
    except UnreadablePostError:
        raise ClientGone(_("The upload was interrupted.")) from None
    if handler.interrupted:
        raise Interrupted(_("The upload was interrupted before it was complete."))
    if not handler.stored:
        raise NoFileSent(_("No file was sent."))
    return fields


@contextmanager
def multipart_intake(
    request: HttpRequest,
    *,
    reserve: Callable[[int], UploadReservation],
    max_file_size: int = 0,
    body_cap: int = 0,
    before_first_file: Callable[[QueryDict | None], None] | None = None,
) -> Iterator[ReceivedUpload]:
    """Receive the `file` parts of a multipart request (Django's HttpRequest, unread) into
    storage and yield them; the caller creates its File rows inside the `with` block.

    In order: the Content-Length (LengthRequired, TooLarge; with `body_cap`, a body larger than
    that many bytes of files plus the multipart framing is TooLarge before a byte is read), the
    media type (NotMultipart), `reserve(length)` (its errors are the caller's and pass
    through), then the body, each file capped at `max_file_size` (0 = unlimited) and all of them
    at the reservation. `before_first_file(fields so far)` runs before the first byte of the
    first file is stored. Whatever is raised, here or in the `with` block, every stored blob is
    deleted; the reservation is released in any case (on success files_create has already
    turned it into used bytes).
    """
    length = request_content_length(request.META)
    if body_cap and length > body_cap + MULTIPART_ALLOWANCE:
        raise TooLarge(
            _("This upload is larger than the %(max)s limit.") % {"max": size_text(body_cap)}
        )
    content_type = request.META.get("CONTENT_TYPE", "")
    if content_type[:19].lower() != "multipart/form-data":  # media types ignore case
        raise NotMultipart(content_type)
    reservation = reserve(length)
    handler = StreamingUploadHandler(
        request,
        field_name="file",
        max_file_size=max_file_size,
        budget=length,
        before_first_file=before_first_file,
        lease=ReservationLease(reservation),
    )
    try:
        fields = _parse(request, length, handler)
        yield ReceivedUpload(fields=fields, uploads=list(handler.stored), reservation=reservation)
    except BaseException:
        handler.discard()
        raise
    finally:
        # Still there: no file was made of it (on success files_create consumed it). Through
        # an upload link, its holder learnt that the declared size fit: a probe (finding M1).
        if services.upload_reservation_release(reservation=reservation):
            link_upload_probed(link_id=reservation.link_id)
