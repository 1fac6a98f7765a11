"""Streaming uploads: multipart file parts go straight into encrypted storage, chunk by chunk.

Nothing holds a whole file: not memory, not a plaintext temporary file. Each `file` part is
written through `content_writer()` as it is parsed; its SHA-256 and first bytes are computed on
the way. Whatever goes wrong (a limit, a broken body, a client that disconnects, an error later
in the request) the writer is aborted or the finished blobs are deleted, so a failed upload
leaves nothing behind; what a crash leaves is reclaimed by `cleanup_partial_uploads`. The quota
reservation is a lease that `ReservationLease` renews while bytes arrive: a request that dies
stops counting against the quota within LOCKER_UPLOAD_LEASE (docs/files.md).
"""

import base64
import binascii
import logging
import re
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import SuspiciousOperation
from django.core.files.uploadhandler import FileUploadHandler, SkipFile
from django.http import QueryDict, UnreadablePostError
from django.http.multipartparser import MultiPartParserError
from django.template.defaultfilters import filesizeformat
from django.utils.datastructures import MultiValueDict
from django.utils.translation import gettext as _
from rest_framework import exceptions, status
from rest_framework.parsers import BaseParser, DataAndFiles

from files import services
from files.models import UploadReservation
from files.multipart import Interrupted, MalformedMultipart, parse_multipart
from files.names import InvalidName, validate_name
from locker.env import SizeTooLarge, parse_byte_count
from storage.blobs import delete_blob
from storage.models import Blob
from storage.writer import ContentWriter, content_writer

logger = logging.getLogger(__name__)

CHUNK_SIZE = 1024 * 1024
# Room for the multipart framing around a file that is exactly as large as a limit allows.
MULTIPART_ALLOWANCE = 64 * 1024


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "too_large"


class InsufficientStorage(exceptions.APIException):
    status_code = status.HTTP_507_INSUFFICIENT_STORAGE
    default_code = "over_quota"


class TooManyUploads(exceptions.APIException):
    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_code = "too_many_uploads"


class LengthRequired(exceptions.APIException):
    status_code = status.HTTP_411_LENGTH_REQUIRED
    default_code = "length_required"


def request_content_length(meta) -> int:
    """The request's declared body size, before anything is reserved or read.

    LengthRequired (411) when Content-Length is missing or not a whole number; PayloadTooLarge
    (413) beyond 2^63 - 1 bytes, which no quota reservation could record.
    """
    try:
        return parse_byte_count(meta.get("CONTENT_LENGTH") or "")
    except SizeTooLarge:
        raise PayloadTooLarge(_("This upload is larger than Locker can store.")) from None
    except ValueError:
        raise LengthRequired(_("Send the upload with a Content-Length header.")) from None


class UploadGone(exceptions.APIException):
    """The upload's reservation was cancelled (by its owner, a revoked link) or reclaimed."""

    status_code = status.HTTP_410_GONE
    default_code = "cancelled"


class ReservationLease:
    """Keeps an upload's quota reservation alive while its bytes arrive.

    `touch()` renews the lease at most every LOCKER_UPLOAD_LEASE / 4 seconds (one UPDATE), so a
    request that crashed, was killed or lost its client stops counting within the lease. A
    reservation cancelled meanwhile stops the upload (410); one that lapsed and whose room was
    taken stops it too (507).
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
            raise UploadGone(str(exc)) from None
        except services.QuotaExceeded as exc:
            raise InsufficientStorage(str(exc)) from None
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
            raise exceptions.ValidationError({"file": exc.messages}) from None
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
            raise PayloadTooLarge(
                _("This file is larger than the %(max)s limit for one upload.")
                % {"max": filesizeformat(self.max_file_size)}
            )
        if self.budget is not None and self._total > self.budget:
            raise InsufficientStorage(_("The upload sent more bytes than it announced."))
        if self.lease is not None:
            self.lease.touch()
        self._writer.write(raw_data)
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


class FaithfulMultiPartParser:
    """`FaithfulMultiPartParser(meta, stream, handlers, encoding).parse()` → (fields, files):
    a drop-in for Django's MultiPartParser over files.multipart, for views that are not DRF
    views (the upload links of the sharing app). Like Django's, a malformed body raises
    MultiPartParserError and a truncated one sets `handler.interrupted` and returns what was
    complete; file names are kept as sent."""

    def __init__(self, meta, stream, handlers, encoding=None):
        streaming = [h for h in handlers if isinstance(h, StreamingUploadHandler)]
        if len(streaming) != 1:
            raise MultiPartParserError("One StreamingUploadHandler is expected.")
        self.handler = streaming[0]
        self.content_type = meta.get("CONTENT_TYPE", "")
        self.stream = stream
        self.encoding = encoding or "utf-8"

    def parse(self):
        try:
            return parse_multipart(
                self.stream, self.content_type, self.handler, encoding=self.encoding
            )
        except Interrupted:
            self.handler.upload_interrupted()
            return QueryDict(), MultiValueDict()
        except MalformedMultipart as exc:
            raise MultiPartParserError(str(exc)) from None


class StreamingMultiPartParser(BaseParser):
    """DRF parser for the upload endpoint; needs a StreamingUploadHandler on the request."""

    media_type = "multipart/form-data"

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        request = parser_context["request"]
        encoding = parser_context.get("encoding", "utf-8")
        handlers = [h for h in request.upload_handlers if isinstance(h, StreamingUploadHandler)]
        if not handlers:
            raise exceptions.ParseError(_("This endpoint does not accept multipart data."))
        if len(handlers) != 1:
            raise exceptions.ParseError(_("One streaming upload handler is expected."))
        try:
            data, files = parse_multipart(stream, media_type, handlers[0], encoding=encoding)
        except Interrupted:
            _discard(handlers)
            raise exceptions.ParseError(
                _("The upload was interrupted before it was complete; nothing was kept.")
            ) from None
        except (MalformedMultipart, SuspiciousOperation) as exc:
            _discard(handlers)
            raise exceptions.ParseError(
                _("The multipart body could not be read: %(error)s") % {"error": exc}
            ) from None
        except UnreadablePostError:
            # The client went away while sending: nobody is listening for the answer.
            _discard(handlers)
            raise exceptions.ParseError(_("The upload was interrupted.")) from None
        except BaseException:
            _discard(handlers)
            raise
        return DataAndFiles(data, files)


def _discard(handlers) -> None:
    for handler in handlers:
        handler.discard()


_DIGEST_ITEM = re.compile(r"^\s*sha-256\s*=\s*:?([A-Za-z0-9+/=]+):?\s*$", re.IGNORECASE)


def expected_sha256_from_headers(meta) -> str | None:
    """The SHA-256 a client announced in `Content-Digest: sha-256=:<b64>:` or
    `Digest: sha-256=<b64>`, as lowercase hex; None when it announced none.

    Raises ValueError for a sha-256 entry that is not valid base64 of 32 bytes.
    """
    for header in ("HTTP_CONTENT_DIGEST", "HTTP_DIGEST"):
        raw = meta.get(header)
        if not raw:
            continue
        for item in raw.split(","):
            match = _DIGEST_ITEM.match(item)
            if not match:
                continue
            try:
                digest = base64.b64decode(match.group(1), validate=True)
            except (binascii.Error, ValueError):
                raise ValueError(header) from None
            if len(digest) != 32:
                raise ValueError(header)
            return digest.hex()
    return None


_HEX_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")


def normalise_hex_sha256(value: str) -> str:
    value = value.strip()
    if not _HEX_SHA256.match(value):
        raise ValueError(value)
    return value.lower()
