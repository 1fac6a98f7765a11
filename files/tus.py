"""The tus 1.0.0 resumable upload protocol (https://tus.io/protocols/resumable-upload), shared by
`/api/v1/tus/` (accounts) and `/r/<token>/tus/` (upload links).

Extensions: creation, creation-with-upload, termination, checksum (sha1, sha256, md5) and
expiration. Views authenticate and say who the upload is for (`Target`) and how to find an
upload (`Scope`); everything else is here. Bytes go through storage.resumable's ResumableWriter, so
nothing is ever stored in plaintext and nothing lives in process memory between requests; on
completion the upload becomes a File through the same service as every other upload
(files.services.files_create, or through files.link_uploads the receiver the sharing app
registers for upload links).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import logging
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.http import HttpResponse, JsonResponse, UnreadablePostError
from django.utils import timezone
from django.utils.http import http_date
from django.utils.translation import gettext as _

from files import services
from files.link_uploads import UploadRefused, link_upload_probed, link_upload_receive
from files.models import Folder, TusUpload, UploadReservation
from files.names import InvalidName, validate_name
from files.services import tus_upload_terminate
from locker import metrics
from locker.env import SizeTooLarge, parse_byte_count
from locker.errors import ErrorCode, code_or_status, error_body
from locker.formats import size_text
from locker.jobs import JobRun, delete_oldest_in_batches, rows_in_batches
from storage.blobs import delete_blob
from storage.exceptions import CorruptContent
from storage.models import Blob
from storage.reader import content_digest, content_head
from storage.resumable import (
    ResumableState,
    ResumableWriter,
    resumable_discard,
    resumable_finished,
    resumable_start,
)

logger = logging.getLogger(__name__)

TUS_VERSION = "1.0.0"
EXTENSIONS = "creation,creation-with-upload,termination,checksum,expiration"
CHECKSUMS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "md5": hashlib.md5}
OFFSET_CONTENT_TYPE = "application/offset+octet-stream"
READ_SIZE = 1024 * 1024
FILE_ID_HEADER = "Locker-File-Id"
# However small an upload is, it may come in this many chunks (see min_chunk).
SMALL_UPLOAD_CHUNKS = 64
EXPOSED_HEADERS = (
    "Location, Tus-Resumable, Tus-Version, Tus-Extension, Tus-Max-Size, Tus-Checksum-Algorithm, "
    "Upload-Offset, Upload-Length, Upload-Expires, Locker-File-Id"
)


class TusError(Exception):
    """An answer other than success: status, a sentence for people, extra headers, and the
    error code of its body (locker.errors.ErrorCode; None: the status's)."""

    def __init__(
        self, status: int, message: str, headers: dict | None = None, *, code: str | None = None
    ):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}
        self.code = code


@dataclass
class Target:
    """Where a new upload goes and under which limits (the view decides)."""

    owner: object
    folder: Folder
    max_size: int = 0  # 0 = unlimited
    link: object | None = None
    ip: str | None = None
    quota_message: str = ""
    # Reserves the quota of a new upload (size, file name) → UploadReservation; by default the
    # owner's quota for as long as the upload may idle (an upload link caps its own room).
    reserve: Callable[[int, str], UploadReservation] | None = None


@dataclass
class Scope:
    """Which uploads a request may see: an account's own, or one upload link's."""

    owner_id: int | None = None
    link_id: int | None = None
    # An API token confined to a folder (files.selectors.confined_subtree): only the uploads
    # going into that folder's subtree.
    folders: object = None

    def filter(self) -> Q:
        if self.link_id is not None:
            return Q(link_id=self.link_id)
        if self.folders is not None:
            return Q(owner_id=self.owner_id, link__isnull=True, folder_id__in=self.folders)
        return Q(owner_id=self.owner_id, link__isnull=True)


# --- headers and responses --------------------------------------------------------------------


def _headers(response: HttpResponse, extra: dict | None = None) -> HttpResponse:
    response["Tus-Resumable"] = TUS_VERSION
    response["Cache-Control"] = "no-store"
    response["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
    for name, value in (extra or {}).items():
        response[name] = value
    return response


def with_tus_headers(response: HttpResponse) -> HttpResponse:
    """The headers every tus answer carries, on a response made elsewhere (an outage's)."""
    return _headers(response)


def empty(status: int, headers: dict | None = None) -> HttpResponse:
    return _headers(HttpResponse(status=status), headers)


def error_response(exc: TusError) -> HttpResponse:
    body = error_body(code_or_status(exc.code, exc.status), exc.message)
    return _headers(JsonResponse(body, status=exc.status), exc.headers)


def options_response() -> HttpResponse:
    headers = {
        "Tus-Version": TUS_VERSION,
        "Tus-Extension": EXTENSIONS,
        "Tus-Checksum-Algorithm": ",".join(CHECKSUMS),
    }
    if settings.LOCKER_MAX_UPLOAD_SIZE:
        headers["Tus-Max-Size"] = str(settings.LOCKER_MAX_UPLOAD_SIZE)
    return empty(204, headers)


def check_version(request) -> None:
    """Every request but OPTIONS must say `Tus-Resumable: 1.0.0` (412 otherwise)."""
    if request.method == "OPTIONS":
        return
    if request.headers.get("Tus-Resumable", "").strip() != TUS_VERSION:
        raise TusError(
            412,
            _("This server speaks tus %(version)s: send the header Tus-Resumable: %(version)s.")
            % {"version": TUS_VERSION},
            {"Tus-Version": TUS_VERSION},
        )


def _int_header(request, name: str, *, required: bool = True) -> int | None:
    raw = request.headers.get(name)
    if raw is None or raw.strip() == "":
        if required:
            raise TusError(400, _("The header %(name)s is required.") % {"name": name})
        return None
    try:
        return parse_byte_count(raw)
    except SizeTooLarge:
        # Sizes and offsets are stored as 64-bit integers: anything larger is no upload Locker
        # could ever hold (and must not reach the database).
        raise TusError(
            413, _("The header %(name)s is larger than Locker can store.") % {"name": name}
        ) from None
    except ValueError:
        raise TusError(
            400, _("The header %(name)s must be a whole number.") % {"name": name}
        ) from None


# Upload-Metadata: Uppy and tus-js-client send a handful of keys (name, type, filename,
# filetype, relativePath…); gunicorn refuses a header line past 8,190 bytes anyway.
MAX_METADATA_CHARS = 8192
MAX_METADATA_KEYS = 32
MAX_FILETYPE_CHARS = 127  # TusUpload.filetype
_CONTROL_CHARS = re.compile("[\x00-\x1f\x7f-\x9f]")
_METADATA_KEY = re.compile(r"^[!-+\--~]+$")  # printable ASCII, neither space nor comma


def parse_metadata(raw: str | None) -> dict[str, str]:
    """`Upload-Metadata: key base64,key2 base64` → {key: decoded text}.

    400 for anything that is not exactly that: a header past MAX_METADATA_CHARS or with more
    than MAX_METADATA_KEYS keys, an empty or non-ASCII key, a key given twice, a value that is
    not base64 of UTF-8 text; a `filetype` longer than MAX_FILETYPE_CHARS or with control
    characters (the file name is checked by files.names.validate_name)."""
    raw = raw or ""
    if len(raw) > MAX_METADATA_CHARS:
        raise TusError(
            400,
            _("Upload-Metadata is too long: at most %(max)d characters.")
            % {"max": MAX_METADATA_CHARS},
        )
    items = [item.strip() for item in raw.split(",")]
    items = [item for item in items if item]
    if len(items) > MAX_METADATA_KEYS:
        raise TusError(
            400,
            _("Upload-Metadata has too many keys: at most %(max)d.") % {"max": MAX_METADATA_KEYS},
        )
    result: dict[str, str] = {}
    for item in items:
        key, _sep, value = item.partition(" ")
        if not _METADATA_KEY.match(key):
            raise TusError(
                400,
                _("Upload-Metadata keys must be printable ASCII without spaces or commas."),
            )
        if key in result:
            raise TusError(400, _("Upload-Metadata gives the key %(key)s twice.") % {"key": key})
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            raise TusError(
                400, _("Upload-Metadata value of %(key)s is not base64 UTF-8.") % {"key": key}
            ) from None
        result[key] = decoded
    filetype = result.get("filetype", "")
    if len(filetype) > MAX_FILETYPE_CHARS or _CONTROL_CHARS.search(filetype):
        raise TusError(
            400,
            _(
                "The filetype in Upload-Metadata must be a media type of at most %(max)d "
                "characters, without control characters."
            )
            % {"max": MAX_FILETYPE_CHARS},
        )
    return result


def _parse_checksum(request):
    raw = request.headers.get("Upload-Checksum")
    if not raw:
        return None
    name, _sep, value = raw.strip().partition(" ")
    algorithm = CHECKSUMS.get(name.lower())
    if algorithm is None:
        raise TusError(
            400,
            _("Unsupported checksum algorithm; use one of: %(names)s.")
            % {"names": ", ".join(CHECKSUMS)},
        )
    try:
        expected = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise TusError(400, _("The Upload-Checksum value is not base64.")) from None
    return algorithm, expected


def _location(request, base: str, upload: TusUpload) -> str:
    return request.build_absolute_uri(f"{base}{upload.upload_id}")


def _state_headers(upload: TusUpload) -> dict:
    headers = {"Upload-Offset": str(upload.offset), "Upload-Length": str(upload.length)}
    if upload.completed_at is None:
        headers["Upload-Expires"] = http_date(upload.expires_at.timestamp())
    elif upload.file_id is not None and upload.link_id is None:
        # Only the owner learns the new file's id: an upload-link holder sees nothing stored.
        headers[FILE_ID_HEADER] = str(upload.file.public_id)
    return headers


def idle_window(upload: TusUpload) -> timedelta:
    """How long an unfinished upload lives without receiving bytes: LOCKER_UPLOAD_LINK_IDLE
    through an upload link (a stranger must not hold the owner's quota long), else
    LOCKER_PARTIAL_UPLOAD_HOURS. Every PATCH renews it (tus expiration extension)."""
    return _idle_window(link_id=upload.link_id)


def _idle_window(*, link_id: int | None) -> timedelta:
    if link_id is not None:
        return timedelta(seconds=settings.LOCKER_UPLOAD_LINK_IDLE)
    return timedelta(hours=settings.LOCKER_PARTIAL_UPLOAD_HOURS)


# --- lookups and the per-upload lock ----------------------------------------------------------


def upload_get(scope: Scope, upload_id: str, *, allow_expired: bool = False) -> TusUpload:
    """The upload, or 404 (unknown, someone else's) / 410 (expired before it was complete)."""
    if not upload_id or len(upload_id) > 64:
        raise TusError(404, _("There is no such upload."))
    upload = (
        TusUpload.objects.select_related("blob", "file", "link")
        .filter(scope.filter(), upload_id=upload_id)
        .first()
    )
    if upload is None:
        raise TusError(404, _("There is no such upload."))
    if not allow_expired and upload.completed_at is None and upload.expires_at <= timezone.now():
        raise TusError(410, _("This upload expired before it was complete; start it again."))
    return upload


def _lock(upload: TusUpload) -> str:
    """Take the upload's write lease, free or lapsed (its holder stopped sending bytes)."""
    token = secrets.token_hex(16)
    now = timezone.now()
    lease = settings.LOCKER_TUS_LOCK_LEASE
    taken = (
        TusUpload.objects.filter(pk=upload.pk)
        .filter(Q(lock_token="") | Q(locked_until__lt=now))
        .update(lock_token=token, locked_until=now + timedelta(seconds=lease))
    )
    if not taken:
        if not TusUpload.objects.filter(pk=upload.pk).exists():
            raise TusError(404, _("There is no such upload."))
        raise TusError(
            423,
            _("Another request is writing to this upload; try again in a few seconds."),
            {"Retry-After": str(lease)},
        )
    try:
        upload.refresh_from_db()
    except TusUpload.DoesNotExist:
        raise TusError(404, _("There is no such upload.")) from None
    return token


def _unlock(upload: TusUpload, token: str) -> None:
    TusUpload.objects.filter(pk=upload.pk, lock_token=token).update(
        lock_token="", locked_until=None
    )


class WriteLease:
    """A PATCH's hold on its upload, renewed while bytes arrive.

    `touch()` after each chunk received renews it every LOCKER_TUS_LOCK_LEASE / 3 seconds at
    most (one UPDATE), so a holder that died (kill -9, a lost client that leaves the socket
    open) frees the upload within the lease, while a live one never loses it. The renewal
    checks the token: when a DELETE terminated the upload, or another PATCH took the upload
    after this one stalled past its lease, the holder learns it before its next write and
    stops (`lost()`). The upload's expiry (and its reservation's) moves with the activity.
    """

    def __init__(self, upload: TusUpload, token: str):
        self.upload = upload
        self.token = token
        self._lease = timedelta(seconds=settings.LOCKER_TUS_LOCK_LEASE)
        self._every = settings.LOCKER_TUS_LOCK_LEASE / 3
        self._window = idle_window(upload)
        self._renewed = time.monotonic()

    def touch(self) -> None:
        if time.monotonic() - self._renewed >= self._every:
            self.renew()

    def renew(self, **changes) -> None:
        """Renew the lease (with `changes` to the row in the same UPDATE); lost() if gone."""
        now = timezone.now()
        extend = bool(changes) or self.upload.expires_at - now < self._window / 2
        values = {"locked_until": now + self._lease, **changes}
        if extend:
            values.update(active_at=now, expires_at=now + self._window)
        if not TusUpload.objects.filter(pk=self.upload.pk, lock_token=self.token).update(**values):
            raise self.lost()
        if extend:
            self.upload.active_at, self.upload.expires_at = now, values["expires_at"]
            UploadReservation.objects.filter(pk=self.upload.reservation_id).update(
                expires_at=values["expires_at"]
            )
        self._renewed = time.monotonic()

    def held(self) -> bool:
        return TusUpload.objects.filter(pk=self.upload.pk, lock_token=self.token).exists()

    def lost(self) -> TusError:
        if TusUpload.objects.filter(pk=self.upload.pk).exists():
            return TusError(
                409,
                _("Another request took over this upload; ask with HEAD and resume."),
            )
        return TusError(410, _("This upload was cancelled; nothing of it was kept."))


# --- the operations ---------------------------------------------------------------------------


def create(request, target: Target, base: str) -> HttpResponse:
    """POST: a new upload (creation), with its first bytes if the body has any."""
    check_version(request)
    if request.headers.get("Upload-Defer-Length"):
        raise TusError(400, _("Deferred lengths are not supported: send Upload-Length."))
    length = _int_header(request, "Upload-Length")
    metadata = parse_metadata(request.headers.get("Upload-Metadata"))
    try:
        filename = validate_name(metadata.get("filename", ""))
    except InvalidName as exc:
        raise TusError(400, " ".join(exc.messages)) from None
    except ValidationError as exc:
        raise TusError(400, " ".join(exc.messages)) from None
    if target.max_size and length > target.max_size:
        raise TusError(
            413,
            _("This file is larger than the %(max)s limit for one upload.")
            % {"max": size_text(target.max_size)},
        )
    body_length = _int_header(request, "Content-Length", required=False) or 0
    if body_length and request.content_type != OFFSET_CONTENT_TYPE:
        raise TusError(415, _("Send upload data as %(type)s.") % {"type": OFFSET_CONTENT_TYPE})
    now = timezone.now()
    # The reservation holds the usual upload lease until the upload is recorded, then lives as
    # long as the upload: a request that dies (or loses the database) in between gives the
    # quota back within LOCKER_UPLOAD_LEASE, through an upload link too.
    expires_at = now + _idle_window(link_id=getattr(target.link, "pk", None))
    try:
        if target.reserve is not None:
            reservation = target.reserve(length, filename)
        else:
            reservation = services.upload_reservation_create(
                user=target.owner, size=length, name=filename
            )
    except services.QuotaExceeded as exc:
        raise TusError(507, target.quota_message or str(exc)) from None
    except services.TooManyOpenUploads as exc:
        raise TusError(429, str(exc), code=ErrorCode.TOO_MANY_UPLOADS) from None
    # All or nothing: an answer without a Location leaves nothing that nobody could resume or
    # delete (no reservation, no row, no object).
    state = None
    try:
        state = resumable_start(length=length, holder=reservation.pk)
        with transaction.atomic():
            upload = _create_row(
                target, filename, metadata, length, state, reservation, now, expires_at
            )
            # From now on the reservation lives as long as the upload (taken again if its
            # lease lapsed meanwhile and the bytes still fit).
            services.upload_reservation_renew(reservation=reservation, expires_at=expires_at)
    except BaseException as exc:
        # Nothing recorded: give back what can be given back now. What cannot (the database
        # is gone) lapses with the lease, and the blob with its holder (cleanup_partial_uploads).
        # The cleanup never hides the error that is the answer.
        if state is not None:
            with contextlib.suppress(Exception):
                resumable_discard(blob=state.blob, storage=state.storage)
        with contextlib.suppress(Exception):
            services.upload_reservation_release(reservation=reservation)
        # Through a link, the holder learnt that the size fit and kept nothing: a probe.
        with contextlib.suppress(Exception):
            link_upload_probed(link_id=getattr(target.link, "pk", None))
        if isinstance(exc, services.QuotaExceeded):
            raise TusError(507, target.quota_message or str(exc)) from None
        if isinstance(exc, services.UploadCancelled):
            raise TusError(410, str(exc)) from None
        raise
    headers = {"Location": _location(request, base, upload)}
    if body_length or length == 0:
        try:
            upload = _append(request, upload, target, expected_offset=0, body_length=body_length)
            if upload.offset < body_length:
                # The creation's body was cut off: its answer (and so the Location) reaches no
                # one, so nobody could resume or delete what arrived. Keep nothing.
                raise TusError(
                    400,
                    _("The upload was interrupted during its creation; nothing was kept."),
                )
        except BaseException:
            try:
                tus_upload_terminate(pk=upload.pk, probe=True)  # nothing kept: a probe
            except Exception:  # the original error is the answer; the cleanup reclaims it later
                logger.warning("Could not end the failed creation %s", upload.pk, exc_info=True)
            raise
    headers.update(_state_headers(upload))
    return empty(201, headers)


def _create_row(
    target, filename, metadata, length, state, reservation, now, expires_at
) -> TusUpload:
    with transaction.atomic():  # a failed insert must not poison an outer transaction
        return TusUpload.objects.create(
            upload_id=secrets.token_urlsafe(32),
            owner=target.owner,
            link=target.link,
            folder=target.folder,
            filename=filename,
            filetype=metadata.get("filetype", ""),
            length=length,
            blob=state.blob,
            header=state.header,
            storage_state=state.storage,
            reservation=reservation,
            created_at=now,
            active_at=now,
            expires_at=expires_at,
        )


def head(request, scope: Scope, upload_id: str) -> HttpResponse:
    check_version(request)
    upload = upload_get(scope, upload_id)
    if upload.completed_at is None and upload.offset == upload.length and upload.length:
        # Every byte is stored but the file was never recorded (the completion lost the
        # database, or its process died): tus clients take a full offset as done and send no
        # more PATCH, so the HEAD that asks finishes the upload.
        target = Target(owner=upload.owner, folder=upload.folder, link=upload.link)
        try:
            upload = _append(request, upload, target, expected_offset=upload.offset, body_length=0)
        except TusError as exc:
            if exc.status != 423:  # a request holding it now finishes it itself
                raise
    return empty(200, _state_headers(upload))


def min_chunk(upload: TusUpload) -> int:
    """The fewest bytes a PATCH must bring unless it ends the upload: LOCKER_TUS_MIN_CHUNK, or
    less for an upload small enough to come in SMALL_UPLOAD_CHUNKS chunks. Every PATCH costs a
    database commit and a re-sealed tail (or a stored S3 part), so an upload costs at most
    SMALL_UPLOAD_CHUNKS + length / LOCKER_TUS_MIN_CHUNK of them, whatever the client sends."""
    return min(settings.LOCKER_TUS_MIN_CHUNK, -(-upload.length // SMALL_UPLOAD_CHUNKS))


def _short(upload: TusUpload, body_length: int, floor: int) -> bool:
    """Fewer than `floor` bytes, and not the end of the upload."""
    return body_length < floor and upload.offset + body_length < upload.length


def _too_small(floor: int) -> TusError:
    return TusError(
        400,
        _(
            "This chunk is too small: send at least %(min)s per PATCH; only the last chunk of "
            "an upload may be shorter."
        )
        % {"min": size_text(floor)},
    )


def patch(request, scope: Scope, upload_id: str, target: Target | None = None) -> HttpResponse:
    check_version(request)
    upload = upload_get(scope, upload_id)
    if request.content_type != OFFSET_CONTENT_TYPE:
        raise TusError(415, _("Send upload data as %(type)s.") % {"type": OFFSET_CONTENT_TYPE})
    offset = _int_header(request, "Upload-Offset")
    body_length = _int_header(request, "Content-Length", required=False)
    if body_length is None:
        raise TusError(411, _("Send the chunk with a Content-Length header."))
    floor = min_chunk(upload)
    if offset == upload.offset and _short(upload, body_length, floor):
        raise _too_small(floor)  # before the lease is taken: not even that is written
    target = target or Target(owner=upload.owner, folder=upload.folder)
    upload = _append(
        request, upload, target, expected_offset=offset, body_length=body_length, floor=floor
    )
    return empty(204, _state_headers(upload))


def delete(request, scope: Scope, upload_id: str) -> HttpResponse:
    """Termination: the partial bytes, the blob and the quota reservation are gone at once,
    even while a PATCH is writing (it stops and keeps nothing), even after expiry."""
    check_version(request)
    upload = upload_get(scope, upload_id, allow_expired=True)
    if not tus_upload_terminate(pk=upload.pk):
        raise TusError(404, _("There is no such upload."))
    return empty(204)


def _forget(upload: TusUpload) -> None:
    """After a failed completion (the blob already deleted): the reservation and the record."""
    if upload.reservation_id is not None:
        UploadReservation.objects.filter(pk=upload.reservation_id).delete()
    TusUpload.objects.filter(pk=upload.pk).delete()


def _append(
    request,
    upload: TusUpload,
    target: Target,
    *,
    expected_offset: int,
    body_length: int,
    floor: int = 0,
):
    """Take the write lease and store the body at `expected_offset`. A body cut off before
    `floor` bytes arrived (and short of the end) keeps nothing, so every commit brings at
    least `floor` bytes or ends the upload."""
    token = _lock(upload)
    lease = WriteLease(upload, token)
    try:
        return _append_locked(request, upload, target, expected_offset, body_length, lease, floor)
    except TusError:
        raise
    except Exception as exc:
        # A DELETE (or a resumed PATCH) took the upload away mid-write: say so, not 500.
        if not lease.held():
            raise lease.lost() from exc
        raise
    finally:
        if upload.lock_token == token:  # not already released with the new offset
            _unlock(upload, token)


def _append_locked(
    request, upload, target, expected_offset, body_length, lease, floor
) -> TusUpload:
    if upload.completed_at is not None:
        # A finished upload is a file now; more bytes must never reach it (CVE-2024-31454).
        raise TusError(403, _("This upload is complete and accepts no more data."))
    if expected_offset != upload.offset:
        raise TusError(
            409,
            _("The upload is at byte %(offset)s, not %(sent)s: ask with HEAD and resume there.")
            % {"offset": upload.offset, "sent": expected_offset},
            {"Upload-Offset": str(upload.offset)},
        )
    if body_length > upload.length - upload.offset:
        raise TusError(413, _("This chunk goes beyond the upload's declared length."))
    if _short(upload, body_length, floor):
        raise _too_small(floor)
    reservation_alive = UploadReservation.objects.filter(
        pk=upload.reservation_id, expires_at__gt=timezone.now()
    ).exists()
    if not reservation_alive or upload.blob is None:
        raise TusError(410, _("This upload expired before it was complete; start it again."))
    checksum = _parse_checksum(request)
    state = ResumableState(
        blob=upload.blob,
        header=upload.header,
        tail=upload.tail,
        storage=upload.storage_state,
        offset=upload.offset,
        length=upload.length,
    )
    if body_length == 0 and (finished := resumable_finished(state)) is not None:
        # A completion that published the object and then died: record the file now.
        _record(upload, finished, None, target, lease)
        return upload
    try:
        writer = ResumableWriter(state)
    except CorruptContent:
        logger.exception("Resumable upload %s cannot continue", upload.pk)
        raise TusError(410, _("This upload's stored data is gone; start it again.")) from None
    try:
        received, interrupted, count = _receive(request, writer, body_length, checksum, lease)
        if checksum is not None:
            if interrupted:
                raise TusError(400, _("The chunk was interrupted; nothing of it was kept."))
            algorithm_digest, expected = received
            if algorithm_digest != expected:
                raise TusError(460, _("The chunk does not match its Upload-Checksum; resend it."))
        if interrupted and _short(upload, count, floor):
            raise TusError(
                400,
                _("The chunk was interrupted before %(min)s arrived; nothing of it was kept.")
                % {"min": size_text(floor)},
            )
        if not lease.held():  # terminated or taken over: commit nothing of this chunk
            raise lease.lost()
        new_offset, tail, storage = writer.checkpoint()
        # The lease goes with the new offset in one write, except before completion, which
        # must still hold it (a second request must not complete the same upload again).
        release = {"lock_token": "", "locked_until": None} if new_offset < upload.length else {}
        lease.renew(offset=new_offset, tail=tail, storage_state=storage, **release)
        writer.committed()
        upload.offset, upload.tail, upload.storage_state = new_offset, tail, storage
        if release:
            upload.lock_token = ""
        if upload.offset == upload.length:
            _complete(upload, writer, target, lease)
    finally:
        writer.close()
    return upload


def _receive(request, writer: ResumableWriter, body_length: int, checksum, lease: WriteLease):
    """Read the body into the writer, renewing the write lease as bytes arrive; returns
    ((digest, expected) or None, interrupted, bytes received)."""
    hasher = checksum[0]() if checksum else None
    remaining = body_length
    interrupted = False
    while remaining > 0:
        try:
            chunk = request.read(min(READ_SIZE, remaining))
        except (UnreadablePostError, OSError):
            interrupted = True
            break
        if not chunk:
            interrupted = True
            break
        remaining -= len(chunk)
        lease.touch()  # before writing: a holder that lost the upload writes nothing more
        if hasher is not None:
            hasher.update(chunk)
        writer.write(chunk)
    received = body_length - remaining
    metrics.uploaded("tus", received)
    if hasher is None:
        return None, interrupted, received
    return (hasher.digest(), checksum[1]), interrupted, received


# Why a completion may refuse an upload for good (anything else leaves it to be finished).
REFUSALS = (
    TusError,
    services.UploadCancelled,
    services.QuotaExceeded,
    services.ContentGone,
    services.FolderGone,
    ValidationError,
)


def _complete(upload: TusUpload, writer: ResumableWriter, target: Target, lease) -> None:
    """The last byte arrived: publish the object and create the File like any other upload."""
    blob = writer.finish()
    _record(upload, blob, writer.sha256, target, lease)


def _record(upload: TusUpload, blob: Blob, sha256: str | None, target: Target, lease) -> None:
    """Create the File of a complete blob (once), or give everything back."""
    try:
        if sha256 is None:  # no resumable hash state (see storage/sha256state.py): read it once
            sha256, head_bytes = content_digest(blob)
        else:
            head_bytes = content_head(blob)
        contents = [
            services.NewFileContent(
                name=upload.filename,
                blob=blob,
                size=upload.length,
                sha256=sha256,
                content_type=services.content_type_detect(head_bytes),
            )
        ]
        reservation = UploadReservation.objects.filter(pk=upload.reservation_id).first()
        with transaction.atomic():
            # Locks the record: a DELETE either ended it before (nothing is created) or waits
            # and finds it complete.
            held = TusUpload.objects.select_for_update().filter(
                pk=upload.pk, lock_token=lease.token
            )
            if not list(held.values_list("pk", flat=True)):
                raise lease.lost()
            if reservation is None:  # cancelled, or its upload link died meanwhile
                raise services.UploadCancelled()
            if upload.link_id is not None:
                try:
                    (file,) = link_upload_receive(
                        link=upload.link, contents=contents, reservation=reservation, ip=target.ip
                    )
                except UploadRefused as exc:
                    raise TusError(exc.status, exc.message, code=exc.code) from None
            else:
                (file,) = services.files_create(
                    user=upload.owner,
                    folder=upload.folder,
                    contents=contents,
                    on_conflict=services.ON_CONFLICT.RENAME,
                    reservation=reservation,
                )
            now = timezone.now()
            TusUpload.objects.filter(pk=upload.pk).update(
                completed_at=now, file=file, tail=b"", storage_state={}, reservation=None
            )
            upload.completed_at, upload.file = now, file
    except BaseException as exc:
        if isinstance(exc, TusError) and exc.status == 409:
            raise  # another request holds the upload now (this one stalled past its lease)
        if not isinstance(exc, REFUSALS):
            # The database or the process failed, not the upload: it stays at its full length
            # with its object published, and the next HEAD or PATCH records the file
            # (resumable_finished); one never finished expires and is reclaimed as any other.
            raise
        # Refused: give the bytes and the reservation back and forget the upload.
        try:
            delete_blob(blob)
        finally:
            _forget(upload)
        if isinstance(exc, TusError):
            raise
        if isinstance(exc, services.UploadCancelled):
            raise TusError(410, str(exc)) from None
        if isinstance(exc, services.QuotaExceeded):
            raise TusError(507, target.quota_message or str(exc)) from None
        if isinstance(exc, services.ContentGone):
            raise TusError(409, str(exc)) from None
        if isinstance(exc, services.FolderGone):
            raise TusError(
                409, _("The target folder was deleted during the upload; nothing was kept.")
            ) from None
        if isinstance(exc, ValidationError):
            raise TusError(400, " ".join(exc.messages)) from None
        raise


# --- housekeeping -----------------------------------------------------------------------------


def _stale_and_not_written(now: datetime, idle_before: datetime | None = None) -> Q:
    stale = (
        Q(expires_at__lte=now) | Q(link__revoked_at__isnull=False) | Q(link__expires_at__lte=now)
    )
    if idle_before is not None:
        stale |= Q(active_at__lt=idle_before)
    not_written = Q(lock_token="") | Q(locked_until__lt=now)
    return stale & not_written


def uploads_end_expired(*, link_id: int) -> int:
    """End the unfinished uploads through one upload link that expired (as cleanup_expired
    does, for that link only: at most LOCKER_UPLOAD_LINK_MAX_OPEN rows); how many."""
    condition = _stale_and_not_written(timezone.now())
    rows = TusUpload.objects.filter(condition, link_id=link_id, completed_at__isnull=True)
    return sum(
        int(tus_upload_terminate(pk=pk, condition=condition))
        for pk in rows.values_list("pk", flat=True)
    )


def cleanup_expired(*, now: datetime | None = None, idle_before: datetime | None = None) -> int:
    """Reclaim unfinished uploads (bytes, blob, reservation) that expired, whose upload link
    died, or (with `idle_before`) that received no bytes since then, sparing those a PATCH is
    writing now; forget finished ones as old. Returns how many unfinished were reclaimed."""
    now = now or timezone.now()
    condition = _stale_and_not_written(now, idle_before)
    candidates = TusUpload.objects.filter(completed_at__isnull=True).filter(condition)
    # LOCKER_JOB_BATCH_SIZE at a time by primary key, within LOCKER_JOB_TIME_BUDGET.
    run = JobRun()
    reclaimed = 0
    for (pk,) in rows_in_batches(candidates.values_list("pk"), run):
        reclaimed += int(tus_upload_terminate(pk=pk, condition=condition))
    finished = TusUpload.objects.filter(completed_at__isnull=False, expires_at__lte=now)
    # At least one batch of its own.
    delete_oldest_in_batches(finished.order_by("pk"), JobRun(budget=run.remaining))
    return reclaimed
